import { afterEach, describe, expect, it } from 'vitest';
import { matchedPair, startTestServer, type TestServer } from '../harness.js';
import { BYSTANDER_P99_MS, bystanders, codeOfFrame, request, signedInSocket } from './attack-harness.js';

/**
 * Attacks on the event stream. Before: 3,000 `events.stream` subscriptions in one frame were
 * all accepted (+56 MB), and five 60 KB messages then became 3,000 frames each (180 MB); a
 * bad cursor wrote an error-level log line with a stack trace (500 in one frame: 396 KB of
 * log). Now a connection has one stream (CONFLICT for the next), and a bad cursor is the
 * client's fault: BAD_REQUEST, nothing above debug in the log.
 */
let t: TestServer;
afterEach(async () => {
  await t.destroy();
});

describe('event streams', () => {
  it('one per connection: the rest of a batch of subscriptions is refused CONFLICT', async () => {
    t = await startTestServer();
    const { a } = await matchedPair(t.url);
    const chat = await bystanders(t);
    const socket = signedInSocket(t.url, a.credentials);
    expect(await socket.opened).toBe('open');
    socket.send(Array.from({ length: 50 }, (_, i) => request(i, 'subscription', 'events.stream', {})));
    const frames = (await socket.next(51)) as { id: number; result?: { type: string } }[];
    expect(frames.filter((f) => f.result?.type === 'started')).toHaveLength(1);
    const refused = frames.filter((f) => codeOfFrame(f) !== undefined);
    expect(refused).toHaveLength(49);
    expect(new Set(refused.map(codeOfFrame))).toEqual(new Set(['CONFLICT']));
    // Stopping the open stream frees its place for a new one.
    const open = frames.find((f) => f.result?.type === 'started')!.id;
    socket.send({ id: open, method: 'subscription.stop' });
    socket.send(request(100, 'subscription', 'events.stream', {}));
    await socket.next(frames.length + 3); // stopped, started, the new stream's first batch
    expect(socket.frames.slice(frames.length).map((f) => [(f as { id: number }).id, (f as { result?: { type: string } }).result?.type])).toEqual([
      [open, 'stopped'],
      [100, 'started'],
      [100, 'data'],
    ]);
    await a.client.close();
    await chat.acks(5);
    expect((await chat.finish()).p99).toBeLessThan(BYSTANDER_P99_MS);
  });

  it('a cursor the stream never handed out is BAD_REQUEST, logged at debug level at most', async () => {
    t = await startTestServer();
    const { a } = await matchedPair(t.url);
    const before = t.logs.length;
    for (let round = 0; round < 20; round++) {
      const socket = signedInSocket(t.url, a.credentials);
      await socket.opened;
      socket.send({ id: 1, method: 'subscription', params: { path: 'events.stream', input: {}, lastEventId: '99999999' } });
      // `started`, then the refusal (the cursor is checked once the stream runs), then `stopped`.
      const frames = await socket.next(3);
      expect(frames.map(codeOfFrame)).toEqual([undefined, 'BAD_REQUEST', undefined]);
      socket.ws.close();
      await socket.closed;
    }
    const lines = t.logs.slice(before).map((l) => JSON.parse(l) as { level: number; msg: string; err?: unknown });
    expect(lines.filter((l) => l.level > 20)).toEqual([]);
    expect(JSON.stringify(lines)).not.toContain('stack');
    await a.client.close();
  });
});
