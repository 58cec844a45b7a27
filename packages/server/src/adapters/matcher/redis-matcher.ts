import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { UserHash } from '@omechat/protocol';
import {
  assertMatchTicket,
  type Matcher,
  type MatcherOptions,
  type MatchPair,
  type MatchTicket,
} from '../../ports/matcher.js';
import { DomainError } from '../../core/domain-error.js';
import { MATCHER_LIBRARY, matcherFunction, type MatcherFunction } from './redis-matcher-scripts.js';

export interface RedisMatcherOptions extends MatcherOptions {
  url: string;
  /** Namespaces the queue's keys (`{<prefix>:match}:…`), so deployments sharing a Redis stay apart. */
  prefix?: string;
  /**
   * How long this node's tickets outlive its last heartbeat. A node that dies leaves tickets
   * of users who are gone; once its lease lapses nobody is paired with them and the next
   * expire() (every node runs it each tick) removes them. Heartbeats go out every third of it.
   */
  leaseMs?: number;
}

interface Record {
  ticket: MatchTicket;
  member: string;
}

/** "member|node|cell|ticket JSON", as the scripts store it. */
function parseRecord(raw: string): Record {
  const [member = '', , , ...json] = raw.split('|');
  return { member, ticket: JSON.parse(json.join('|')) as MatchTicket };
}

/** Earlier by (enqueuedAt, insertion order): the member starts with the zero-padded insertion number. */
const earlier = (a: Record, b: Record) =>
  a.ticket.enqueuedAt < b.ticket.enqueuedAt || (a.ticket.enqueuedAt === b.ticket.enqueuedAt && a.member < b.member);

function pairOf(waiting: MatchTicket, arriving: MatchTicket): MatchPair {
  const theirs = new Set(waiting.interests);
  return { waiting, arriving, sharedInterests: arriving.interests.filter((i) => theirs.has(i)) };
}

/**
 * The waiting queue in Redis, shared by every server process: users on different nodes are
 * paired with each other. All matching happens in Redis functions (redis-matcher-scripts.ts;
 * Redis 7 or later), each atomic, mirroring MemoryMatcher's index (FIFO buckets per (age, tolerance) cell and
 * per (cell, interest)) with sorted sets, so an arrival reads only the heads of the at most
 * 36 cells it may meet, whatever the queue's length. It needs one Redis (or one Redis
 * Cluster slot: every key shares a hash tag).
 */
export class RedisMatcher implements Matcher {
  readonly #redis: Redis;
  readonly #base: string;
  readonly #node = randomBytes(8).toString('hex');
  readonly #leaseMs: number;
  readonly #relaxAfterMs: number;
  readonly #now: () => number;
  readonly #heartbeat: NodeJS.Timeout;
  #closed = false;

  constructor(options: RedisMatcherOptions) {
    this.#redis = new Redis(options.url, { maxRetriesPerRequest: 1 });
    this.#redis.on('error', () => undefined); // surfaced per command; the client reconnects itself
    this.#base = `{${options.prefix ?? 'omechat'}:match}`;
    this.#leaseMs = options.leaseMs ?? 5000;
    this.#relaxAfterMs = options.interestRelaxAfterMs;
    this.#now = options.now;
    // Sent before any call on this connection, which Redis runs in order: the functions are
    // loaded and the node's lease exists before its first ticket.
    this.#redis.function('LOAD', 'REPLACE', MATCHER_LIBRARY).catch(() => undefined);
    const beat = () => void this.#run('heartbeat', [this.#node, this.#leaseMs]).catch(() => undefined);
    beat();
    this.#heartbeat = setInterval(beat, Math.max(100, Math.floor(this.#leaseMs / 3)));
    this.#heartbeat.unref();
  }

  async enqueue(ticket: MatchTicket, excluded: ReadonlySet<UserHash>): Promise<MatchPair | null> {
    this.#assertOpen();
    assertMatchTicket(ticket);
    const arriving: MatchTicket = { ...ticket, interests: [...new Set(ticket.interests)] };
    const partner = await this.#run<string | null>('enqueue', [
      this.#node,
      this.#now(),
      this.#relaxAfterMs,
      JSON.stringify(arriving),
      String(arriving.enqueuedAt),
      excluded.size,
      ...excluded,
    ]);
    return partner === null ? null : pairOf(parseRecord(partner).ticket, arriving);
  }

  async cancel(userHash: UserHash): Promise<boolean> {
    this.#assertOpen();
    return (await this.#run<string | null>('cancel', [userHash])) !== null;
  }

  async keepApart(a: UserHash, b: UserHash, until: number): Promise<void> {
    this.#assertOpen();
    await this.#run('keepApart', [a, b, until, this.#now()]);
  }

  async has(userHash: UserHash): Promise<boolean> {
    this.#assertOpen();
    return (await this.#call(() => this.#redis.hexists(this.#key('t'), userHash))) === 1;
  }

  async sweep(
    now: number,
    excludedFor: (userHash: UserHash) => Promise<ReadonlySet<UserHash>>,
  ): Promise<MatchPair[]> {
    this.#assertOpen();
    // Taken off the shared unswept set atomically: two nodes sweeping never try one twice.
    const due = await this.#run<string[]>('takeDue', [now - this.#relaxAfterMs]);
    const pairs: MatchPair[] = [];
    for (const member of due) {
      const userHash = member.slice(15) as UserHash;
      const excluded = await excludedFor(userHash);
      // The script pairs it only if it is still the same ticket (not paired, replaced or cancelled meanwhile).
      const found = await this.#run<[string, string] | null>('pairWaiting', [member, now, this.#relaxAfterMs, excluded.size, ...excluded]);
      if (!found) continue;
      const [own, partner] = found.map(parseRecord) as [Record, Record];
      pairs.push(earlier(partner, own) ? pairOf(partner.ticket, own.ticket) : pairOf(own.ticket, partner.ticket));
    }
    return pairs;
  }

  async expire(before: number): Promise<MatchTicket[]> {
    this.#assertOpen();
    return (await this.#run<string[]>('expire', [before])).map((raw) => parseRecord(raw).ticket);
  }

  async size(): Promise<number> {
    this.#assertOpen();
    return this.#call(() => this.#redis.hlen(this.#key('t')));
  }

  /** Ends the lease: this node's users are disconnected, so other nodes drop its tickets. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    await this.#redis.del(this.#key('lease', this.#node)).catch(() => undefined);
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('matcher is closed');
  }

  #key(...parts: string[]): string {
    return [this.#base, ...parts].join(':');
  }

  /** FCALL, loading the library again if Redis lost it (a restart without persistence). */
  async #run<R>(name: MatcherFunction, args: (string | number)[]): Promise<R> {
    const fn = matcherFunction(name);
    return this.#call(async () => {
      try {
        return (await this.#redis.fcall(fn, 1, this.#base, ...args)) as R;
      } catch (err) {
        if (!(err instanceof Error) || !/function not found/i.test(err.message)) throw err;
        await this.#redis.function('LOAD', 'REPLACE', MATCHER_LIBRARY);
        return (await this.#redis.fcall(fn, 1, this.#base, ...args)) as R;
      }
    });
  }

  /** Redis's own refusals (a script's error) pass through; a Redis that cannot answer is UNAVAILABLE. */
  async #call<R>(fn: () => Promise<R>): Promise<R> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof Error && err.name === 'ReplyError') throw err;
      throw new DomainError('UNAVAILABLE', 'Matching is unavailable right now; try again shortly');
    }
  }
}
