import type { ChatId, ChatSummary, ClientEvent, ClientInfo, UserHash } from '@omechat/sdk';
import type { CliError } from './errors.js';

/**
 * Everything the CLI prints goes through here. With --json, stdout carries exactly one JSON
 * object per line and nothing else; notices go to stderr in both modes.
 */
export class Output {
  constructor(
    readonly json: boolean,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
  ) {}

  /** One result: `value` as a JSON line, or `text()` for people. */
  result(value: object, text: () => string): void {
    this.line(this.json ? JSON.stringify(value) : text());
  }

  line(text: string): void {
    this.stdout.write(`${text}\n`);
  }

  notice(text: string): void {
    if (!this.json) this.stderr.write(`${text}\n`);
  }

  error(error: CliError): void {
    if (this.json) this.line(JSON.stringify({ error: { code: error.code, message: error.message } }));
    else this.stderr.write(`omechat: ${error.message}${error.code === 'USAGE' ? '' : ` (${error.code})`}\n`);
  }
}

/** Who people are, by user hash, so events can say `<sam>` instead of a hash. */
export class Names {
  readonly #names = new Map<UserHash, string>();
  readonly #peers = new Map<ChatId, UserHash>();

  constructor(me: { userHash: UserHash }) {
    this.#names.set(me.userHash, 'you');
  }

  addChats(chats: ChatSummary[]): void {
    for (const chat of chats) this.addPeer(chat.chatId, chat.peer);
  }

  addPeer(chatId: ChatId, peer: { userHash: UserHash; username: string }): void {
    this.#peers.set(chatId, peer.userHash);
    if (!this.#names.has(peer.userHash)) this.#names.set(peer.userHash, peer.username);
  }

  of(userHash: UserHash): string {
    return this.#names.get(userHash) ?? userHash.slice(0, 8);
  }

  peerOf(chatId: ChatId): string {
    const userHash = this.#peers.get(chatId);
    return userHash ? this.of(userHash) : 'peer';
  }
}

export const time = (ms: number) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
const dateTime = (ms: number | null) => (ms === null ? 'never' : new Date(ms).toLocaleString());

/** One event as a line for people; null for events not worth a line (receipts). */
export function describeEvent(event: ClientEvent, names: Names, withChat = true): string | null {
  const where = withChat && 'chatId' in event ? `[${event.chatId}] ` : '';
  switch (event.type) {
    case 'match.found':
      return `${where}* matched with ${event.peer.username} (${event.peer.age})`;
    case 'message':
      return `${where}<${names.of(event.from)}> ${event.text}`;
    case 'message.undecryptable':
      return `${where}<${names.of(event.from)}> (a message that could not be decrypted: ${event.code})`;
    case 'chat.typing':
      return event.typing ? `${where}* ${names.of(event.userHash)} is typing…` : null;
    case 'chat.ended':
      return `${where}* ${event.reason === 'left' && event.by ? `${event.by === 'you' ? 'you' : names.peerOf(event.chatId)} left the chat` : `the chat ended (${event.reason})`}`;
    case 'session.revoked':
      return `* device ${event.clientHash} was signed out`;
    case 'encryption.failed':
      return `* encryption keys could not be set up (${event.code}): ${event.message}`;
    case 'peer.identityChanged':
      return `! the encryption key of ${names.of(event.userHash)}'s device ${event.clientHash} changed; compare safety codes again`;
    case 'encryption.downgraded':
      return `${where}! ${names.of(event.userHash)}'s device ${event.clientHash} speaks only E2E v1: no post-quantum keys, no length padding`;
    case 'message.delivered':
    case 'message.read':
      return null;
  }
}

export function describeDevices(devices: ClientInfo[]): string {
  return devices
    .map((d) => `${d.current ? '*' : ' '} ${d.clientHash}  ${d.deviceName ?? '(unnamed)'}  added ${dateTime(d.createdAt)}, last seen ${dateTime(d.lastSeenAt)}`)
    .join('\n');
}

export function describeChats(chats: ChatSummary[]): string {
  if (chats.length === 0) return 'No chats yet; run `omechat chat` to meet someone.';
  return chats
    .map((c) => `${c.chatId}  ${c.peer.username} (${c.peer.age})  ${c.state}${c.unread ? `, ${c.unread} unread` : ''}  ${dateTime(c.lastActivityAt)}`)
    .join('\n');
}
