import type { BanLayer } from '@omechat/protocol';

/**
 * The Metrics port: what the core and the transport count. The Prometheus adapter
 * (`adapters/metrics/prometheus.ts`) exports it at `/metrics`; every metric is in the README.
 * Each hook is one call on its path, so the message path stays readable.
 */
export interface Metrics {
  /** Runs a `message.send` up to its ack, counting it and timing it. */
  timeSend<T>(send: () => Promise<T>): Promise<T>;
  /** A match opened; `waitedMs`: how long each of the two tickets waited for it. */
  matchFound(waitedMs: readonly number[]): void;
  banIssued(layer: BanLayer): void;
  reportMade(urgent: boolean): void;
  /** Passes an event stream's batches through, counting the open stream and each batch's size. */
  stream<B extends { events: readonly unknown[] }>(batches: AsyncIterable<B>): AsyncGenerator<B>;
}

/** Counts nothing: for cores built without an exporter (tests of the core, tools). */
export const noMetrics: Metrics = {
  timeSend: (send) => send(),
  matchFound: () => undefined,
  banIssued: () => undefined,
  reportMade: () => undefined,
  async *stream(batches) {
    yield* batches;
  },
};
