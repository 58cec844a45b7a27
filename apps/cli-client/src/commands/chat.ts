import { clearLine, createInterface, cursorTo, type Interface } from 'node:readline';
import type { ChatId, ClientEvent } from '@omechat/sdk';
import { CliError, toCliError } from '../errors.js';
import { describeEvent, Names, time } from '../format.js';
import { openDevice, stopSignal, untilStopped, type DeviceSession } from '../session.js';
import { timeoutMs, type Command, type Context } from '../context.js';
import { DEFAULT_MATCH_TIMEOUT_S, findMatch, MATCH_OPTIONS, matchInput, type Match } from './chats.js';

const HELP = [
  '/leave   leave this chat',
  '/next    leave and meet someone new',
  '/safety  show the safety code; compare it with your peer to rule out a man in the middle',
  '/quit    exit (the chat stays open: omechat chat <chatId>)',
].join('\n');

/**
 * One interactive session. Input lines are handled strictly in order (a line typed while
 * matching is sent once matched); /quit and Ctrl+C act at once.
 */
class Room {
  current: Match | null = null;
  #matching: AbortController | null = null;
  #work: Promise<void> = Promise.resolve();
  #queued = 0;
  #quitting = false;
  #done!: () => void;
  readonly done = new Promise<void>((resolve) => (this.#done = resolve));

  constructor(
    private readonly ctx: Context,
    private readonly session: DeviceSession,
    private readonly rl: Interface,
    private readonly names: Names,
    private readonly tty: boolean,
  ) {}

  /** A line for people; --json output carries events and errors only. */
  say(text: string): void {
    if (this.ctx.out.json) return;
    if (!this.tty) return this.ctx.out.line(text);
    clearLine(process.stdout, 0);
    cursorTo(process.stdout, 0);
    process.stdout.write(`${text}\n`);
    this.rl.prompt(true);
  }

  /** Non-fatal trouble: the session goes on. */
  report(error: unknown): void {
    const e = toCliError(error, this.session.client.closedReason);
    if (this.ctx.out.json) this.ctx.out.error(e);
    else this.say(`! ${e.message} (${e.code})`);
  }

  onEvent(event: ClientEvent): void {
    if (event.type === 'match.found') this.names.addPeer(event.chatId, event.peer);
    const here = this.current !== null && 'chatId' in event && event.chatId === this.current.chatId;
    if (here && event.type === 'message' && !event.own) {
      // Printed (a line on a terminal, or an object for a script) is shown: the peer gets
      // its ✓✓ read. A read receipt is a courtesy: losing one is not worth an error line.
      this.session.client.message.markRead(event.chatId, event.seq).catch(() => undefined);
    }
    if (this.ctx.out.json) return this.ctx.out.line(JSON.stringify(event));
    // Our own lines are on screen already; other chats ending (or the one we just left) is noise.
    if (event.type === 'match.found' || (event.type === 'message' && event.own && this.tty) || (event.type === 'chat.ended' && !here)) return;
    if (here && event.type === 'chat.ended') {
      this.current = null;
      const who = event.by === 'you' ? 'you left' : 'your peer left';
      return this.say(`* ${event.reason === 'left' ? who : `the chat ended (${event.reason})`}. /next to meet someone new, /quit to exit.`);
    }
    const line = describeEvent(event, this.names, !here);
    if (line) this.say(line);
  }

  enqueue(task: () => Promise<void>, counted = true): void {
    if (counted) this.#queued++;
    this.#work = this.#work
      .then(() => (this.#quitting ? undefined : task()))
      .catch((error: unknown) => this.report(error))
      .finally(() => {
        if (counted) this.#queued--;
      });
  }

  async next(): Promise<void> {
    if (this.current) await this.leave();
    this.#matching = new AbortController();
    this.say('* looking for someone to talk to…');
    try {
      this.current = await findMatch(this.session, matchInput(this.ctx), timeoutMs(this.ctx, DEFAULT_MATCH_TIMEOUT_S), this.#matching.signal);
      this.say(`* matched with ${this.current.peer.username} (${this.current.peer.age}) — say hi! /help lists commands.`);
    } catch (error) {
      if (error instanceof CliError && error.code === 'CANCELLED') return;
      if (error instanceof CliError && error.code === 'TIMEOUT' && !this.ctx.out.json) return this.say(`* ${error.message}. /next to try again, /quit to exit.`);
      throw error;
    } finally {
      this.#matching = null;
    }
  }

  async leave(): Promise<void> {
    const chat = this.current;
    if (!chat) return this.say('* you are not in a chat; /next to meet someone.');
    this.current = null;
    await this.session.run((c) => c.chat.leave(chat.chatId));
    this.say(`* you left the chat with ${chat.peer.username}.`);
  }

  async line(input: string): Promise<void> {
    const text = input.trim();
    if (text === '') return;
    switch (text) {
      case '/help':
        return this.say(HELP);
      case '/leave':
        return this.leave();
      case '/next':
        return this.next();
      case '/safety': {
        if (!this.current) return this.say('* you are not in a chat.');
        const { chatId } = this.current;
        const code = await this.session.run((c) => c.chat.safetyCode(chatId));
        return this.ctx.out.json ? this.ctx.out.line(JSON.stringify({ type: 'safetyCode', chatId, code })) : this.say(`* safety code: ${code}`);
      }
    }
    if (/^\/\w+$/.test(text)) return this.say(`* unknown command ${text}; /help lists commands.`);
    if (!this.current) return this.say('* you are not in a chat; /next to meet someone.');
    const { chatId } = this.current;
    await this.session.run((c) => c.chat.send(chatId, input));
  }

  /** /quit and Ctrl+C: stop matching, finish what is being sent, exit. */
  async quit(): Promise<void> {
    this.#quitting = true;
    this.#matching?.abort();
    await this.#work;
    this.#done();
  }

  /** End of input: everything typed so far is still handled, then exit. */
  async endOfInput(): Promise<void> {
    if (this.#queued === 0) this.#matching?.abort();
    await this.#work;
    this.#done();
  }
}

const chat: Command = {
  args: '[chatId] [--tolerance N] [--interests a,b] [--timeout S]',
  summary: 'talk: meet a stranger (or reopen a chat) and type lines to send; /help inside',
  options: MATCH_OPTIONS,
  positionals: [0, 1],
  async run(ctx) {
    const session = await openDevice(ctx.server, ctx.state, 'chat');
    const stop = stopSignal();
    const tty = !ctx.out.json && Boolean(process.stdin.isTTY && process.stdout.isTTY);
    const rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty, prompt: '> ' });
    try {
      const names = new Names(session.credentials);
      const chats = await session.run((c) => c.chat.list());
      names.addChats(chats);
      const room = new Room(ctx, session, rl, names, tty);
      session.listen((event) => room.onEvent(event));

      const chatId = ctx.positionals[0] as ChatId | undefined;
      if (chatId) {
        const chat = chats.find((c) => c.chatId === chatId);
        if (!chat) throw new CliError('NOT_FOUND', `No chat ${chatId}; \`omechat chats\` lists yours`);
        if (chat.state === 'ended') throw new CliError('CHAT_ENDED', `The chat with ${chat.peer.username} has ended`);
        room.current = { chatId, peer: chat.peer };
        room.say(`* chatting with ${chat.peer.username} (${chat.peer.age}); /help lists commands.`);
        if (!ctx.out.json) {
          for (const m of ctx.state.messages(chatId).slice(-10)) room.say(`${time(m.sentAt)} <${names.of(m.from)}> ${m.text}`);
        }
      } else {
        room.enqueue(() => room.next(), false);
      }

      rl.on('line', (line) => {
        if (line.trim() === '/quit') return void room.quit();
        room.enqueue(() => room.line(line));
        if (tty) rl.prompt();
      });
      rl.on('SIGINT', () => void room.quit()); // Ctrl+C in a terminal reaches readline, not the process
      rl.on('close', () => void room.endOfInput());
      if (tty) rl.prompt();

      stop.signal.addEventListener('abort', () => void room.quit());
      await Promise.race([room.done, untilStopped(session.client, new AbortController().signal, (text) => room.say(text))]);
    } finally {
      if (tty) process.stdout.write('\n'); // leave the shell prompt on a line of its own
      rl.close();
      stop.dispose();
      await session.close();
    }
  },
};

export const interactiveCommands: Record<string, Command> = { chat };
