import { LIMITS, type UserHash } from '@omechat/protocol';
import { assertMatchTicket, type MatchPair, type MatchTicket } from '@omechat/server/internals';

interface Entry {
  ticket: MatchTicket;
  interests: ReadonlySet<string>;
  alive: boolean;
}

/**
 * The baseline for the matching benchmark: the same rules as the Matcher port (see
 * packages/server/src/ports/matcher.ts) applied by scanning every waiting ticket, oldest
 * first, on each arrival. Only what the benchmark calls (enqueue, cancel, size) exists.
 * Removed tickets are marked dead and compacted away in bulk, so removal is not what is slow.
 */
export class NaiveMatcher {
  readonly #queue: Entry[] = [];
  readonly #byUser = new Map<UserHash, Entry>();
  #dead = 0;
  /** Tickets examined while searching; compare with MemoryMatcher.inspected. */
  inspected = 0;

  constructor(private readonly options: { interestRelaxAfterMs: number; now: () => number }) {}

  async enqueue(ticket: MatchTicket, excluded: ReadonlySet<UserHash>): Promise<MatchPair | null> {
    assertMatchTicket(ticket);
    this.#remove(this.#byUser.get(ticket.userHash));
    const now = this.options.now();
    const me: Entry = { ticket: { ...ticket, interests: [...ticket.interests] }, interests: new Set(ticket.interests), alive: true };
    const relaxed = (e: Entry) => now - e.ticket.enqueuedAt >= this.options.interestRelaxAfterMs;
    const meRelaxed = relaxed(me);
    let fallback: Entry | undefined;
    for (const other of this.#queue) {
      if (!other.alive) continue;
      this.inspected++;
      const o = other.ticket;
      if (o.userHash === ticket.userHash || excluded.has(o.userHash)) continue;
      if (o.age >= LIMITS.adultAge !== ticket.age >= LIMITS.adultAge) continue;
      if (Math.abs(o.age - ticket.age) > Math.min(o.tolerance, ticket.tolerance)) continue;
      let shares = false;
      for (const i of me.interests) if (other.interests.has(i)) shares = true;
      if (shares) return this.#pair(other, me); // the oldest one sharing an interest wins
      const allowed = (me.interests.size === 0 && other.interests.size === 0) || meRelaxed || relaxed(other);
      if (allowed && !fallback) {
        fallback = other;
        // Nobody can share an interest with a ticket that has none: the oldest allowed wins.
        if (me.interests.size === 0) break;
      }
    }
    if (fallback) return this.#pair(fallback, me);
    this.#queue.push(me);
    this.#byUser.set(ticket.userHash, me);
    return null;
  }

  /**
   * Appends tickets without searching: for building a large queue of tickets already known
   * to be mutually incompatible (searching on each would cost O(n^2)).
   */
  load(tickets: MatchTicket[]): void {
    for (const ticket of tickets) {
      const entry: Entry = { ticket: { ...ticket, interests: [...ticket.interests] }, interests: new Set(ticket.interests), alive: true };
      this.#queue.push(entry);
      this.#byUser.set(ticket.userHash, entry);
    }
  }

  async cancel(userHash: UserHash): Promise<boolean> {
    const entry = this.#byUser.get(userHash);
    this.#remove(entry);
    return entry !== undefined;
  }

  async size(): Promise<number> {
    return this.#byUser.size;
  }

  #pair(waiting: Entry, arriving: Entry): MatchPair {
    this.#remove(waiting);
    return {
      waiting: waiting.ticket,
      arriving: arriving.ticket,
      sharedInterests: [...arriving.interests].filter((i) => waiting.interests.has(i)),
    };
  }

  #remove(entry: Entry | undefined): void {
    if (!entry?.alive) return;
    entry.alive = false;
    this.#byUser.delete(entry.ticket.userHash);
    if (++this.#dead > 1024 && this.#dead > this.#queue.length / 2) {
      let kept = 0;
      for (const e of this.#queue) if (e.alive) this.#queue[kept++] = e;
      this.#queue.length = kept;
      this.#dead = 0;
    }
  }
}
