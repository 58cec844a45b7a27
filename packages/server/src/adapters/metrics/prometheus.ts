import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BanLayer } from '@omechat/protocol';
import type { Metrics } from '../../ports/metrics.js';

/** Figures read when `/metrics` is scraped, from whoever owns them (transport, core). */
export interface MetricSources {
  /** Open WebSocket connections, signed in or not. */
  connections(): number;
  /** Calls being handled. */
  inflightCalls(): number;
  /** Match tickets waiting. */
  waitingTickets(): Promise<number>;
  /** Any other figures, each exported as a gauge `omechat_<name>` (history cache, ...). */
  figures(): Record<string, number>;
}

/**
 * The Prometheus exporter (prom-client): one registry per server, with Node's default
 * process metrics (heap, event-loop lag, GC, CPU) next to OmeChat's own.
 */
export class PrometheusMetrics implements Metrics {
  readonly registry = new Registry();
  readonly #messages = new Counter({ name: 'omechat_messages_total', help: 'Messages acknowledged by message.send', registers: [this.registry] });
  readonly #matches = new Counter({ name: 'omechat_matches_total', help: 'Matches opened (chats created by matchmaking)', registers: [this.registry] });
  readonly #bans = new Counter({
    name: 'omechat_bans_total',
    help: 'Bans issued by this process, automatic suspensions included, by layer',
    labelNames: ['layer'],
    registers: [this.registry],
  });
  readonly #reports = new Counter({ name: 'omechat_reports_total', help: 'Reports made, by urgency', labelNames: ['urgent'], registers: [this.registry] });
  readonly #sendSeconds = new Histogram({
    name: 'omechat_message_send_seconds',
    help: 'message.send from the call reaching the server to its ack (stored durably)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly #matchWaitSeconds = new Histogram({
    name: 'omechat_match_wait_seconds',
    help: 'Time from match.start to match.found, per matched user',
    buckets: [0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });
  readonly #batchEvents = new Histogram({
    name: 'omechat_stream_batch_events',
    help: 'Events per batch sent on an event stream',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });
  readonly #streams = new Gauge({ name: 'omechat_streams', help: 'Open event streams (events.stream subscriptions)', registers: [this.registry] });
  #sources: MetricSources | null = null;
  readonly #figures = new Map<string, Gauge>();
  readonly #moreFigures: (() => Record<string, number>)[] = [];

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const sources = () => this.#sources;
    new Gauge({
      name: 'omechat_connections',
      help: 'Open WebSocket connections, signed in or not',
      registers: [this.registry],
      collect() {
        this.set(sources()?.connections() ?? 0);
      },
    });
    new Gauge({
      name: 'omechat_inflight_calls',
      help: 'Calls being handled',
      registers: [this.registry],
      collect() {
        this.set(sources()?.inflightCalls() ?? 0);
      },
    });
    new Gauge({
      name: 'omechat_waiting_tickets',
      help: 'Match tickets waiting for a partner',
      registers: [this.registry],
      async collect() {
        this.set((await sources()?.waitingTickets()) ?? 0);
      },
    });
  }

  /** Where the scraped figures come from; the transport calls this once it listens. */
  setSources(sources: MetricSources): void {
    this.#sources = sources;
  }

  /** More figures, each exported as a gauge `omechat_<name>` (the storage's WAL, ...). */
  addFigures(figures: () => Record<string, number>): void {
    this.#moreFigures.push(figures);
  }

  /** The exposition text, and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    for (const source of [() => this.#sources?.figures() ?? {}, ...this.#moreFigures]) {
      for (const [name, value] of Object.entries(source())) this.#figure(name).set(value);
    }
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  async timeSend<T>(send: () => Promise<T>): Promise<T> {
    const end = this.#sendSeconds.startTimer();
    const ack = await send();
    end();
    this.#messages.inc();
    return ack;
  }

  matchFound(waitedMs: readonly number[]): void {
    this.#matches.inc();
    for (const ms of waitedMs) this.#matchWaitSeconds.observe(Math.max(0, ms) / 1000);
  }

  banIssued(layer: BanLayer): void {
    this.#bans.inc({ layer });
  }

  reportMade(urgent: boolean): void {
    this.#reports.inc({ urgent: String(urgent) });
  }

  streamsOpen(delta: 1 | -1): void {
    this.#streams.inc(delta);
  }

  streamBatch(events: number): void {
    this.#batchEvents.observe(events);
  }

  #figure(name: string): Gauge {
    let gauge = this.#figures.get(name);
    if (!gauge) {
      gauge = new Gauge({ name: `omechat_${name}`, help: FIGURE_HELP[name] ?? `OmeChat figure ${name}`, registers: [this.registry] });
      this.#figures.set(name, gauge);
    }
    return gauge;
  }
}

const FIGURE_HELP: Record<string, string> = {
  history_cache_hits: 'History cache lookups answered from memory, since start',
  history_cache_misses: 'History cache lookups that read storage, since start',
  history_cache_hit_rate: 'history_cache_hits / (hits + misses)',
  history_cache_bytes: 'Bytes of chat history held in memory',
  bus_up: '1 while the bus (Redis) is connected, else 0',
  sqlite_wal_bytes: 'Bytes of SQLite WAL in use (header and frames since it last restarted)',
  sqlite_wal_high_water_bytes: 'The most bytes of SQLite WAL in use at once since start (measured after every commit)',
  sqlite_wal_file_bytes: 'Length of the SQLite WAL file (it keeps its longest and is reused from the start)',
  sqlite_checkpoints: 'SQLite checkpoints that copied the whole WAL and restarted it, since start',
  sqlite_checkpoints_busy: 'SQLite checkpoints a reader kept from finishing (tried again later), since start',
  sqlite_checkpoint_hold_seconds: 'Seconds new SQLite commits waited while checkpoints finished, since start',
};
