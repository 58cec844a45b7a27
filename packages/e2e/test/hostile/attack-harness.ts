import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { envelopeFor, matchedPair, waitFor, type TestServer } from '../harness.js';
import { rpc } from '../safety-harness.js';

/**
 * Tools for the attacks in this folder: raw sockets that send what no honest client would,
 * and a pair of bystanders on another network who keep chatting while an attack runs.
 */

export interface RawSocket {
  ws: WebSocket;
  /** Every text frame the server sent, parsed (PING frames aside). */
  frames: unknown[];
  /** Bytes of every frame received. */
  received: { bytes: number };
  /** Resolves once the upgrade succeeds, or with the HTTP status that refused it. */
  opened: Promise<'open' | number>;
  /** Resolves with the close code (1006 for a cut socket; 0 if it never opened). */
  closed: Promise<number>;
  send(frame: unknown): void;
  /** Resolves once `count` frames have arrived. */
  next(count: number): Promise<unknown[]>;
}

/** A bare WebSocket from `localAddress` that does exactly what the test tells it. */
export function rawSocket(url: string, opts: { localAddress?: string; connectionParams?: boolean; headers?: Record<string, string> } = {}): RawSocket {
  const target = opts.connectionParams ? `${url}?connectionParams=1` : url;
  const ws = new WebSocket(target, { localAddress: opts.localAddress ?? '127.0.0.1', headers: opts.headers });
  const frames: unknown[] = [];
  const received = { bytes: 0 };
  const waiters: (() => void)[] = [];
  ws.on('message', (data: Buffer) => {
    received.bytes += data.length;
    const text = data.toString();
    if (text === 'PING') return void ws.send('PONG');
    frames.push(JSON.parse(text));
    for (const wake of waiters.splice(0)) wake();
  });
  ws.on('error', () => undefined);
  const opened = new Promise<'open' | number>((resolve) => {
    ws.once('open', () => resolve('open'));
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('error', () => resolve(0));
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  const next = async (count: number) => {
    while (frames.length < count) {
      await Promise.race([new Promise<void>((wake) => waiters.push(wake)), closed.then(() => { throw new Error(`closed after ${frames.length} of ${count} frames`); })]);
    }
    return frames.slice(0, count);
  };
  return { ws, frames, received, opened, closed, send: (frame) => ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame)), next };
}

/** A signed-in raw socket: connectionParams sent at once, as the tRPC client does. */
export function signedInSocket(url: string, credentials: { clientHash: string; accessToken: string }, localAddress = '127.0.0.1'): RawSocket {
  const socket = rawSocket(url, { localAddress, connectionParams: true });
  void socket.opened.then((state) => state === 'open' && socket.send({ method: 'connectionParams', data: credentials }));
  return socket;
}

/** A tRPC request frame. */
export const request = (id: number, method: 'query' | 'mutation' | 'subscription', path: string, input?: unknown) => ({
  id,
  method,
  params: { path, input },
});

/** The OmeChat error code of an error frame. */
export const codeOfFrame = (frame: unknown) => (frame as { error?: { data?: { omechatCode?: string } } }).error?.data?.omechatCode;

/**
 * Two users on a network of their own (127.0.9.0/24), matched; one sends the other messages,
 * one after another, for as long as the attack runs. `finish()` stops them and gives the ack
 * latencies: an attack that starves the server shows as slow acks here.
 */
export async function bystanders(t: TestServer) {
  const { a, b, chatId } = await matchedPair(t.url, ['127.0.9.1', '127.0.9.2']);
  // The receiver goes offline: its messages are still stored, fsynced and acked (what is
  // measured), and its SDK does not try to decrypt the test's placeholder envelopes.
  await b.client.close();
  const latencies: number[] = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const started = performance.now();
      await rpc(a.client).message.send.mutate({ chatId, envelope: envelopeFor([b.credentials.clientHash], `hello ${i}`), clientMessageId: `by-${i}` });
      latencies.push(performance.now() - started);
    }
  })();
  return {
    /** Waits until the bystanders have had `count` more acks (so they overlapped the attack). */
    async acks(count: number) {
      const target = latencies.length + count;
      await waitFor(() => latencies.length >= target, `${count} bystander acks`);
    },
    async finish() {
      running = false;
      await loop;
      await a.client.close();
      const sorted = [...latencies].sort((x, y) => x - y);
      return { count: sorted.length, p99: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0, max: sorted.at(-1) ?? 0 };
    },
  };
}

/** The ceiling bystanders' acks must stay under during an attack (generous: a loaded 2-core box). */
export const BYSTANDER_P99_MS = 1000;
