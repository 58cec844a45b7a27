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
  /**
   * An event stream opened (+1) or ended (-1). Plain calls rather than a generator wrapped
   * around the stream: each layer of async generator costs every pushed batch a few promises.
   */
  streamsOpen(delta: 1 | -1): void;
  /** An event stream sent a batch of this many events. */
  streamBatch(events: number): void;
}

/** Counts nothing: for cores built without an exporter (tests of the core, tools). */
export const noMetrics: Metrics = {
  timeSend: (send) => send(),
  matchFound: () => undefined,
  banIssued: () => undefined,
  reportMade: () => undefined,
  streamsOpen: () => undefined,
  streamBatch: () => undefined,
};
