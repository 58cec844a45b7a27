import { io, type Socket } from 'socket.io-client';
import type { Credentials } from './rpc.ts';

/**
 * A load-generator client for the Socket.IO baseline (bench/baseline-socketio.ts), with the
 * surface of RpcClient that the benchmarks use: open with credentials, subscribe, calls
 * with an ack, pushed event batches, frames received.
 */
export interface SioOptions {
  url: string;
  credentials: Credentials;
  onEvents?: (events: unknown[], at: number) => void;
  onClose?: (reason: string) => void;
}

export class SioClient {
  /** Engine.IO packets received (acks, pushes, pings): one WebSocket frame each. */
  framesIn = 0;

  private constructor(readonly socket: Socket) {}

  static open(opts: SioOptions): Promise<SioClient> {
    const socket = io(opts.url, {
      transports: ['websocket'],
      auth: { ...opts.credentials },
      forceNew: true,
      reconnection: false,
    });
    const client = new SioClient(socket);
    socket.io.engine.on('packet', () => client.framesIn++);
    socket.on('events', (batch: { events: unknown[] }) => opts.onEvents?.(batch.events, performance.now()));
    return new Promise((resolve, reject) => {
      socket.once('connect_error', reject);
      socket.once('connect', () => {
        socket.off('connect_error', reject);
        socket.on('disconnect', (reason) => opts.onClose?.(reason));
        resolve(client);
      });
    });
  }

  /** The counterpart of opening `events.stream`. */
  async subscribe(): Promise<void> {
    await this.socket.emitWithAck('subscribe');
  }

  call<T = unknown>(event: string, ...args: unknown[]): Promise<T> {
    return this.socket.emitWithAck(event, ...args) as Promise<T>;
  }

  /** A call whose ack goes to a callback (no promise per message). */
  send(event: string, input: unknown, onAck: (value: unknown) => void): void {
    this.socket.emit(event, input, onAck);
  }

  close(): Promise<void> {
    if (this.socket.disconnected) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.io.engine.once('close', () => resolve());
      this.socket.disconnect();
    });
  }
}
