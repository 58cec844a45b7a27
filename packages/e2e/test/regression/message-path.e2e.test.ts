import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CLOSE_CODES, type ChatId, type OmeEvent } from '@omechat/protocol';
import { createOmeChatClient } from '@omechat/sdk';
import { codeOfError, rawClient } from '../raw-client.js';
import { rawSocket } from '../hostile/attack-harness.js';
import { envelopeFor, matchedPair, recorder, startTestServer, waitFor, type TestServer } from '../harness.js';

let t: TestServer | undefined;
const open: { close(): unknown }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  await t?.destroy();
  t = undefined;
});

/** A device speaking tRPC's frames by hand, counting every frame the server sends it. */
async function rawDevice(url: string, credentials: { clientHash: string; accessToken: string }) {
  const ws = new WebSocket(`${url}?connectionParams=1`);
  open.push({ close: () => ws.close() });
  const frames: { id?: number; result?: { type: string; id?: string; data?: unknown } }[] = [];
  ws.on('message', (data) => frames.push(JSON.parse((data as Buffer).toString()) as (typeof frames)[number]));
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ method: 'connectionParams', data: credentials }));
  ws.send(JSON.stringify({ id: 1, method: 'subscription', params: { path: 'events.stream', input: {} } }));
  // The stream is live once its first (empty) batch has come.
  await waitFor(() => frames.some((f) => f.id === 1 && f.result?.type === 'data'), 'the stream to start');
  let nextId = 100;
  const events = () =>
    frames.flatMap((f) => (f.id === 1 && f.result?.type === 'data' ? (f.result.data as { data: { events: OmeEvent[] } }).data.events : []));
  return {
    frames,
    events,
    /** Sends and waits for the ack frame. */
    async send(chatId: ChatId, to: string, text: string) {
      const id = nextId++;
      const input = { chatId, envelope: envelopeFor([to], text), clientMessageId: `c${id}` };
      ws.send(JSON.stringify({ id, method: 'mutation', params: { path: 'message.send', input } }));
      await waitFor(() => frames.some((f) => f.id === id), `the ack of ${text}`);
    },
  };
}

describe('the message path', () => {
  it('costs the sender one ack frame per message and the receiver one push; receipts are coalesced', async () => {
    t = await startTestServer();
    const { a, b, chatId } = await matchedPair(t.url);
    open.push(a.client, b.client);
    const sender = await rawDevice(t.url, a.credentials);
    const receiver = await rawDevice(t.url, b.credentials);
    const senderFramesBefore = sender.frames.length;
    const receiverFramesBefore = receiver.frames.length;

    const count = 20;
    for (let i = 1; i <= count; i++) {
      await sender.send(chatId, b.credentials.clientHash, `m${i}`);
      await waitFor(() => receiver.events().filter((e) => e.type === 'message.new').length === i, `message ${i} pushed`);
    }
    // Every message arrived, once, in order, each in its own frame (nothing was waiting to batch).
    const received = receiver.events().filter((e): e is Extract<OmeEvent, { type: 'message.new' }> => e.type === 'message.new');
    expect(received.map((e) => e.message.seq)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(receiver.frames.length - receiverFramesBefore).toBe(count);

    // The sender is told all 20 were delivered, in fewer receipts than messages.
    const receipts = () => sender.events().filter((e) => e.type === 'message.delivered');
    await waitFor(() => receipts().some((e) => e.type === 'message.delivered' && e.seq === count), 'the receipt for the last message');
    expect(receipts().length).toBeLessThan(count);
    const senderFrames = sender.frames.slice(senderFramesBefore);
    expect(senderFrames.filter((f) => f.id !== 1)).toHaveLength(count); // the acks
    expect(senderFrames.filter((f) => f.id === 1).length).toBe(receipts().length);
  });

  it('sends a backlog far larger than the slow-consumer limit to a device that reads it', async () => {
    t = await startTestServer({ OMECHAT_MAX_BUFFERED_BYTES: String(64 * 1024) });
    const { a, b, eb, chatId } = await matchedPair(t.url);
    open.push(a.client);
    await a.client.message.send({ chatId, envelope: envelopeFor([b.credentials.clientHash], 'first'), clientMessageId: 'first' });
    await eb.next('message.new');
    await waitFor(() => b.client.lastEventId !== null, 'a cursor');
    const cursor = b.client.lastEventId;
    await b.client.close();

    // 4 MiB of messages while the device is away: 64 times what the server buffers for it.
    const count = 100;
    const big = 'x'.repeat(40_000);
    for (let i = 0; i < count; i++) {
      await a.client.message.send({ chatId, envelope: envelopeFor([b.credentials.clientHash], `${i}:${big}`), clientMessageId: `big-${i}` });
    }
    const resumed = createOmeChatClient({ url: t.url, credentials: b.credentials, WebSocket: WebSocket, lastEventId: cursor });
    open.push(resumed);
    const states: string[] = [];
    resumed.onStateChange((state) => states.push(state));
    const er = recorder(resumed);
    await er.next('message.new', count, 30_000);
    expect(er.texts().map((text) => Number(text.split(':')[0]))).toEqual(Array.from({ length: count }, (_, i) => i));
    // One connection did it all: the server never cut it as a slow consumer (4008) to reconnect.
    expect(states).toEqual(['connected']);
  });

  it('answers malformed connectionParams and frames with typed errors, and stays up', async () => {
    t = await startTestServer();
    const ws = new WebSocket(`${t.url}?connectionParams=1`);
    const frames: { id: unknown; error?: { data?: { omechatCode?: string } } }[] = [];
    ws.on('message', (data) => frames.push(JSON.parse((data as Buffer).toString()) as (typeof frames)[number]));
    const closed = new Promise((resolve) => ws.once('close', resolve));
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ method: 'connectionParams', data: { clientHash: 5 } }));
    await closed;
    expect(frames).toMatchObject([{ id: null, error: { data: { omechatCode: 'BAD_REQUEST' } } }]);

    const { a } = await matchedPair(t.url);
    open.push(a.client);
    const device = await rawDevice(t.url, a.credentials);
    // Junk gets one typed answer and the socket is closed with 4002 (hostile/junk-frames.e2e.test.ts);
    // a well-formed request gets its answer and the socket stays.
    const answerOf = async (frame: string) => {
      const socket = rawSocket(t!.url);
      open.push({ close: () => socket.ws.close() });
      await socket.opened;
      socket.send(frame);
      const [reply] = (await socket.next(1)) as { id: unknown; error?: { data?: { omechatCode?: string } } }[];
      return { answer: [reply!.id, reply!.error?.data?.omechatCode], socket };
    };
    for (const [frame, id] of [['not json', null], [JSON.stringify({ id: 7, method: 'teleport', params: {} }), 7], [JSON.stringify({ id: 8, method: 'query', params: { path: 42 } }), 8]] as const) {
      const { answer, socket } = await answerOf(frame);
      expect(answer).toEqual([id, 'BAD_REQUEST']);
      expect(await socket.closed).toBe(CLOSE_CODES.PROTOCOL_ERROR);
    }
    const { answer, socket } = await answerOf(JSON.stringify([{ id: 9, method: 'query', params: { path: 'account.me' } }]));
    expect(answer).toEqual([9, 'UNAUTHORIZED']);
    expect(socket.ws.readyState).toBe(WebSocket.OPEN);
    expect(device.frames.length).toBeGreaterThan(0); // the signed-in device was not disturbed
  });

  it('answers a cursor this stream never handed out with BAD_REQUEST, not with silence', async () => {
    t = await startTestServer();
    const { a } = await matchedPair(t.url);
    open.push(a.client);
    const raw = rawClient(t.url, a.credentials);
    open.push(raw);
    const error = await new Promise<unknown>((resolve) => {
      const events = raw.client.events as unknown as Record<string, { subscribe(i: unknown, o: object): { unsubscribe(): void } }>;
      const sub = events.stream!.subscribe(
        { lastEventId: '999999' },
        {
          onData: () => resolve(new Error('expected no data')),
          onError: (err: unknown) => {
            sub.unsubscribe();
            resolve(err);
          },
        },
      );
    });
    expect(codeOfError(error)).toBe('BAD_REQUEST');
    expect(await raw.client.account!.me!.query()).toHaveProperty('userHash');
  });
});
