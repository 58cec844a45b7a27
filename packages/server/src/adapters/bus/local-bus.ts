import type { Bus, BusMessage } from '../../ports/bus.js';

/** In-process fan-out for a single server. */
export class LocalBus implements Bus {
  readonly #handlers = new Set<(message: BusMessage) => void>();

  publish(message: BusMessage): void {
    for (const handler of this.#handlers) handler(message);
  }

  subscribe(handler: (message: BusMessage) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  connected(): boolean {
    return true;
  }

  /** In-process delivery has no outages to recover from. */
  onReconnect(): () => void {
    return () => undefined;
  }

  async close(): Promise<void> {
    this.#handlers.clear();
  }
}
