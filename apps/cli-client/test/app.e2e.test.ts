import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliUser, jsonLines, signUp, startTestServer, uniqueName, waitFor, type Json } from './harness.js';

/**
 * Two omechat processes through a real server: one is the full-screen app in a real
 * terminal (tmux: keys in with send-keys, the screen out with capture-pane), the other the
 * line-based `chat --json`. The assertions read what is on the screen.
 */
const BIN = join(import.meta.dirname, '../bin/omechat.js');
const SOCKET = `omechat-app-test-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
const screen = (pane = 'app') => tmux('capture-pane', '-p', '-J', '-t', pane);
const type = (text: string, pane = 'app') => {
  tmux('send-keys', '-t', pane, '-l', '--', text); // '--': a secret may start with '-'
  tmux('send-keys', '-t', pane, 'Enter');
};
async function shows(pattern: string | RegExp, what = String(pattern), pane = 'app') {
  let last = '';
  await waitFor(() => {
    last = screen(pane);
    return typeof pattern === 'string' ? last.includes(pattern) : pattern.test(last);
    // A busy machine (the whole suite at once) can take a while to start a process.
  }, `${what} on screen`, 60_000).catch((error: Error) => {
    throw new Error(`${error.message}; the screen:\n${last}`);
  });
  return last;
}

let server: Awaited<ReturnType<typeof startTestServer>>;
const users: CliUser[] = [];
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  try {
    tmux('kill-server');
  } catch {
    // already gone with its last session
  }
  await server.close();
  for (const u of users) u.cleanup();
});

describe('omechat in a terminal', { timeout: 240_000 }, () => {
  it('asks for the secret on login without showing what is typed', async () => {
    const sam = new CliUser(server.url);
    users.push(sam);
    const name = uniqueName('sam');
    const secret = await signUp(sam, name, 40);
    await sam.json(['logout']);
    tmux('new-session', '-d', '-s', 'login', '-x', '120', '-y', '10', `env OMECHAT_URL=${server.url} OMECHAT_HOME=${sam.home} ${process.execPath} ${BIN} login --username ${name}; sleep 60`);
    await shows('Secret (hidden): ', 'the prompt', 'login');
    type(secret, 'login');
    const after = await shows(`Logged in as ${name}`, 'the sign-in', 'login');
    expect(after).not.toContain(secret);
    expect(after).not.toContain(secret.slice(0, 8));
    tmux('kill-session', '-t', 'login');
  });

  it('searches, matches another omechat, chats both ways with marks, shows the same safety code, rides out a server restart, leaves and quits', async () => {
    const [alice, ben] = [new CliUser(server.url), new CliUser(server.url)];
    users.push(alice, ben);
    const [annName, benName] = [uniqueName('ann'), uniqueName('ben')];
    await Promise.all([signUp(alice, annName, 30), signUp(ben, benName, 31)]);

    // ink paints only the last frame when it sees CI set (as .ci/run does): a person's terminal has no CI.
    tmux('new-session', '-d', '-s', 'app', '-x', '120', '-y', '32', `env -u CI OMECHAT_URL=${server.url} OMECHAT_HOME=${alice.home} ${process.execPath} ${BIN}`);
    await shows('● connected');
    expect(screen()).toContain(`omechat · ${annName}`);
    type('/search 5');
    await shows(/Looking for someone \(age tolerance ±5\) · \d+ s · Esc to cancel/, 'the search');

    const benChat = ben.spawn(['chat', '--json', '--tolerance', '5', '--timeout', '30']);
    const benSaw: Json[] = jsonLines(benChat);
    await shows(`Matched with ${benName} (31)`);
    await waitFor(() => benSaw.some((e) => e.type === 'match.found'), 'ben to be matched');

    benChat.stdin.write('hello from ben\n');
    await shows(new RegExp(`\\d\\d:\\d\\d ${benName}: hello from ben`), "ben's message");
    type('hi from ann');
    await shows(/\d\d:\d\d you: hi from ann ✓/, 'her own message with its mark');
    await waitFor(() => benSaw.some((e) => e.type === 'message' && e.text === 'hi from ann'), 'ben to read ann');

    type('/safety');
    const code = (await shows(/safety code [\d ]{20,}/, 'the safety code')).match(/safety code ([\d ]+\d)/)![1]!;
    benChat.stdin.write('/safety\n');
    await waitFor(() => benSaw.some((e) => e.type === 'safetyCode'), "ben's safety code");
    expect(benSaw.find((e) => e.type === 'safetyCode').code).toBe(code);

    // The server restarts: the indicator says so, and a line Ben sends while it is down
    // arrives once it is back (his send waits for the reconnect; the app resumes its stream).
    await server.restart(async () => {
      await shows('◌ reconnecting…', 'the connection indicator');
      benChat.stdin.write('sent while the server was down\n');
    });
    await shows('● connected', 'the reconnect');
    await shows(new RegExp(`${benName}: sent while the server was down`), 'the message sent during the outage');

    type('/leave');
    await waitFor(() => benSaw.some((e) => e.type === 'chat.ended'), 'ben to see the chat end');
    await shows(`▸[1] ${benName} ✕`, 'the chat marked as ended and open');
    const ended = await shows('— You left the chat.', 'who ended it');
    expect(ended).not.toContain('Say hi!');
    benChat.stdin.end();

    type('/quit');
    await exitedApp('app');
  });

  it('fits an 80×24 terminal after 40 messages, pages back with PageUp, keeps read marks and opens offline with its stored chats', async () => {
    const [alice, ben] = [new CliUser(server.url), new CliUser(server.url)];
    users.push(alice, ben);
    const [annName, benName] = [uniqueName('ann'), uniqueName('ben')];
    await Promise.all([signUp(alice, annName, 60), signUp(ben, benName, 61)]);
    const start = (pane: string) =>
      tmux('new-session', '-d', '-s', pane, '-x', '80', '-y', '24', `env -u CI OMECHAT_URL=${server.url} OMECHAT_HOME=${alice.home} ${process.execPath} ${BIN}`);
    start('small');
    await shows('● connected', 'the app', 'small');
    type('/search 1', 'small');
    const benChat = ben.spawn(['chat', '--json', '--tolerance', '1', '--timeout', '30']);
    const benSaw: Json[] = jsonLines(benChat);
    await shows(`Matched with ${benName} (61)`, 'the match', 'small');
    await waitFor(() => benSaw.some((e) => e.type === 'match.found'), 'ben to be matched');

    for (let i = 1; i <= 40; i++) {
      const text = `msg-${String(i).padStart(2, '0')}`;
      if (i % 2) benChat.stdin.write(`${text}\n`);
      else type(text, 'small');
      await shows(new RegExp(`(you|${benName}): ${text}`), text, 'small');
    }
    // The last own message is read by ben's `chat`, which marks what it shows as read.
    let frame = await shows('msg-40 ✓✓ read', 'the read mark', 'small');
    const rows = frame.trimEnd().split('\n');
    expect(rows.length).toBeLessThanOrEqual(24);
    expect(rows[0]).toContain(`omechat · ${annName}`);
    expect(rows[0]).toContain('● connected');
    expect(rows[1]).toContain(`▸[1] ${benName}`);
    expect(frame).toMatch(/↑ \d+ earlier \(PgUp\)/);
    expect(frame).not.toContain('msg-01');

    tmux('send-keys', '-t', 'small', 'PPage');
    frame = await shows(/↓ \d+ newer \(PgDn\)/, 'the earlier page', 'small');
    expect(frame).not.toContain('msg-40');
    expect(frame.split('\n')[0]).toContain(`omechat · ${annName}`);
    tmux('send-keys', '-t', 'small', 'NPage');
    await shows('msg-40', 'the newest page again', 'small');
    // A taller terminal shows more of the chat at once, still from the header down.
    tmux('resize-window', '-t', 'small', '-x', '100', '-y', '40');
    frame = await shows('msg-12', 'more messages after a resize', 'small');
    expect(frame).toContain('msg-40');
    expect(frame.split('\n')[0]).toContain(`omechat · ${annName}`);
    type('/quit', 'small');
    await exitedApp('small');
    benChat.stdin.end();

    // The server is down: the app opens with what this device stored, marks included, and
    // says why it is not connected; once the server is back it goes live by itself.
    await server.restart(async () => {
      start('offline');
      const offline = await shows('Cannot reach the server at', 'the offline notice', 'offline');
      expect(offline).toContain('msg-40 ✓✓ read');
      expect(offline).toContain(`▸[1] ${benName}`);
      expect(offline).toMatch(/◌ (connecting|reconnecting)…/);
    });
    await shows('● connected', 'the reconnect', 'offline');
    type('/quit', 'offline');
    await exitedApp('offline');
  });
});

async function exitedApp(pane: string) {
  await waitFor(() => {
    try {
      tmux('has-session', '-t', pane);
      return false;
    } catch {
      return true;
    }
  }, `the app in ${pane} to exit`);
}
