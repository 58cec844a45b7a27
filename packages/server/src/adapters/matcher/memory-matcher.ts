import { LIMITS, type UserHash } from '@omechat/protocol';
import {
  assertMatchTicket,
  type Matcher,
  type MatcherOptions,
  type MatchPair,
  type MatchTicket,
} from '../../ports/matcher.js';

interface Entry {
  ticket: MatchTicket;
  /** Insertion counter: breaks enqueuedAt ties first come, first served. */
  seq: number;
  interests: ReadonlySet<string>;
  /** Every queue the entry sits in, so removing it costs O(its interests), not O(queue). */
  nodes: QueueNode[];
}

interface QueueNode {
  entry: Entry;
  prev: QueueNode | null;
  next: QueueNode | null;
  queue: Queue | null;
}

const earlier = (a: Entry, b: Entry) =>
  a.ticket.enqueuedAt < b.ticket.enqueuedAt ||
  (a.ticket.enqueuedAt === b.ticket.enqueuedAt && a.seq < b.seq);

/**
 * A doubly linked list in (enqueuedAt, seq) order. Not a Map: V8 leaves deleted entries at
 * the front of a Map's ordered table until it rehashes, so reading the head of a Map used
 * as a FIFO costs O(entries removed so far): we measured 60 µs per read at 100k tickets.
 */
class Queue {
  head: QueueNode | null = null;
  tail: QueueNode | null = null;
  size = 0;

  /** `interest` is set on interest buckets, which are dropped once empty. */
  constructor(
    readonly cell = 0,
    readonly interest?: string,
  ) {}

  insert(entry: Entry): void {
    // Appends in O(1); walks back only for a ticket older than the tail (a clock step back).
    let prev = this.tail;
    while (prev && earlier(entry, prev.entry)) prev = prev.prev;
    const node: QueueNode = { entry, prev, next: prev ? prev.next : this.head, queue: this };
    if (node.next) node.next.prev = node;
    else this.tail = node;
    if (prev) prev.next = node;
    else this.head = node;
    this.size++;
    entry.nodes.push(node);
  }

  static unlink(node: QueueNode): Queue | null {
    const queue = node.queue;
    if (!queue) return null;
    if (node.prev) node.prev.next = node.next;
    else queue.head = node.next;
    if (node.next) node.next.prev = node.prev;
    else queue.tail = node.prev;
    node.prev = node.next = node.queue = null;
    queue.size--;
    return queue;
  }
}

/** A cell is one (age, tolerance) combination, numbered densely so buckets sit in arrays. */
const cellOf = (age: number, tolerance: number) => age * (LIMITS.toleranceMax + 1) + tolerance;
const CELL_COUNT = cellOf(LIMITS.ageMax, LIMITS.toleranceMax) + 1;
const reachableCache: (readonly number[] | undefined)[] = [];

/** The cells holding tickets a ticket of this age and tolerance may meet: at most 36. */
function reachableCells(age: number, tolerance: number): readonly number[] {
  const cached = reachableCache[cellOf(age, tolerance)];
  if (cached) return cached;
  const adult = age >= LIMITS.adultAge;
  const cells: number[] = [];
  for (let other = age - tolerance; other <= age + tolerance; other++) {
    if (other >= LIMITS.adultAge !== adult) continue;
    for (let t = Math.abs(other - age); t <= LIMITS.toleranceMax; t++) cells.push(cellOf(other, t));
  }
  return (reachableCache[cellOf(age, tolerance)] = cells);
}

const bucketArray = () => Array.from({ length: CELL_COUNT }, (_, cell) => new Queue(cell));

/**
 * The waiting queue in process memory, for a single server process and for tests.
 *
 * Index: FIFO buckets per (age, tolerance) cell, one for tickets without interests and one
 * for tickets with, plus one per (cell, interest). Tickets with and without interests are
 * kept apart so that an arrival which may only take a relaxed ticket never walks past
 * unrelaxed ones: within a bucket the oldest, hence relaxed, come first. An arrival reads
 * only the heads of the buckets in the at most 36 cells it may meet, skipping excluded
 * users, so its cost does not depend on how many tickets wait.
 */
export class MemoryMatcher implements Matcher {
  readonly #relaxAfterMs: number;
  readonly #now: () => number;
  readonly #byUser = new Map<UserHash, Entry>();
  readonly #plain = bucketArray();
  readonly #picky = bucketArray();
  readonly #byInterest = new Map<string, Map<number, Queue>>();
  /** Every ticket, oldest first: expiry pops from the front. */
  readonly #all = new Queue();
  /** Tickets that have not yet relaxed (or been swept once relaxed), oldest first. */
  readonly #unswept = new Queue();
  /** Pairs kept apart: user -> (other user -> until). */
  readonly #apart = new Map<UserHash, Map<UserHash, number>>();
  /** The same, in the order they were set, so lapsed ones are forgotten without a scan. */
  #apartOrder: { a: UserHash; b: UserHash; until: number }[] = [];
  #seq = 0;
  #closed = false;
  #inspected = 0;

  constructor(options: MatcherOptions) {
    this.#relaxAfterMs = options.interestRelaxAfterMs;
    this.#now = options.now;
  }

  /** Users with a pair kept apart held in memory; lets tests check that lapsed pairs are forgotten. */
  get keptApartUsers(): number {
    return this.#apart.size;
  }

  /** Queue entries examined while searching for partners; lets tests check cost, not time. */
  get inspected(): number {
    return this.#inspected;
  }

  async enqueue(ticket: MatchTicket, excluded: ReadonlySet<UserHash>): Promise<MatchPair | null> {
    this.#assertOpen();
    assertMatchTicket(ticket);
    const now = this.#now();
    this.#remove(this.#byUser.get(ticket.userHash));
    const entry: Entry = {
      ticket: { ...ticket, interests: [...ticket.interests] },
      seq: this.#seq++,
      interests: new Set(ticket.interests),
      nodes: [],
    };
    const partner = this.#findPartner(entry, excluded, now);
    if (partner) {
      this.#remove(partner);
      return pairOf(partner, entry);
    }
    this.#insert(entry, now);
    return null;
  }

  async cancel(userHash: UserHash): Promise<boolean> {
    this.#assertOpen();
    const entry = this.#byUser.get(userHash);
    this.#remove(entry);
    return entry !== undefined;
  }

  async keepApart(a: UserHash, b: UserHash, until: number): Promise<void> {
    this.#assertOpen();
    this.#forgetLapsed(this.#now());
    for (const [one, other] of [[a, b], [b, a]] as const) {
      let map = this.#apart.get(one);
      if (!map) this.#apart.set(one, (map = new Map<UserHash, number>()));
      map.set(other, until);
    }
    this.#apartOrder.push({ a, b, until });
  }

  async has(userHash: UserHash): Promise<boolean> {
    this.#assertOpen();
    return this.#byUser.has(userHash);
  }

  async sweep(
    now: number,
    excludedFor: (userHash: UserHash) => Promise<ReadonlySet<UserHash>>,
  ): Promise<MatchPair[]> {
    this.#assertOpen();
    // Taken off #unswept before any await so a concurrent sweep never tries them twice.
    const due: Entry[] = [];
    for (let node = this.#unswept.head; node && this.#hasRelaxed(node.entry, now); ) {
      const next = node.next;
      Queue.unlink(node);
      due.push(node.entry);
      node = next;
    }
    const pairs: MatchPair[] = [];
    for (const entry of due) {
      const { userHash } = entry.ticket;
      if (this.#byUser.get(userHash) !== entry) continue;
      const excluded = await excludedFor(userHash);
      // Another call may have paired, replaced or cancelled it while we awaited.
      if (this.#byUser.get(userHash) !== entry) continue;
      const partner = this.#findPartner(entry, excluded, now);
      if (!partner) continue;
      this.#remove(entry);
      this.#remove(partner);
      pairs.push(earlier(partner, entry) ? pairOf(partner, entry) : pairOf(entry, partner));
    }
    return pairs;
  }

  async expire(before: number): Promise<MatchTicket[]> {
    this.#assertOpen();
    const expired: MatchTicket[] = [];
    while (this.#all.head && this.#all.head.entry.ticket.enqueuedAt < before) {
      const { entry } = this.#all.head;
      this.#remove(entry);
      expired.push(entry.ticket);
    }
    return expired;
  }

  async size(): Promise<number> {
    this.#assertOpen();
    return this.#byUser.size;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#byUser.clear();
    this.#byInterest.clear();
    this.#apart.clear();
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('matcher is closed');
  }

  #hasRelaxed(entry: Entry, now: number): boolean {
    return now - entry.ticket.enqueuedAt >= this.#relaxAfterMs;
  }

  /**
   * The oldest allowed partner sharing an interest, else the oldest allowed one at all.
   * The entry itself may be queued (during a sweep) and is skipped like an excluded user.
   */
  #findPartner(entry: Entry, excluded: ReadonlySet<UserHash>, now: number): Entry | undefined {
    this.#forgetLapsed(now);
    const apart = this.#apart.get(entry.ticket.userHash);
    if (apart) excluded = new Set([...excluded, ...[...apart].filter(([, until]) => until > now).map(([user]) => user)]);
    const cells = reachableCells(entry.ticket.age, entry.ticket.tolerance);
    let best: Entry | undefined;
    for (const interest of entry.interests) {
      const buckets = this.#byInterest.get(interest);
      if (!buckets) continue;
      for (const cell of cells) best = this.#olderHead(buckets.get(cell), entry, excluded, best);
    }
    if (best) return best;

    // Nobody shares an interest: a pair is allowed if neither has interests or one has relaxed.
    const pickyBy = this.#hasRelaxed(entry, now) ? null : now;
    const plainBy = entry.interests.size > 0 ? pickyBy : null;
    for (const cell of cells) {
      best = this.#olderHead(this.#plain[cell], entry, excluded, best, plainBy);
      best = this.#olderHead(this.#picky[cell], entry, excluded, best, pickyBy);
    }
    return best;
  }

  /**
   * `best`, or the queue's first ticket not skipped if it is older and allowed. Only that
   * first one can win: the rest are younger. With `relaxedBy` set, it must have relaxed by
   * then, and if it has not, no later one has either.
   */
  #olderHead(
    queue: Queue | undefined,
    self: Entry,
    excluded: ReadonlySet<UserHash>,
    best: Entry | undefined,
    relaxedBy: number | null = null,
  ): Entry | undefined {
    for (let node = queue?.head; node; node = node.next) {
      const other = node.entry;
      if (best && !earlier(other, best)) return best;
      this.#inspected++;
      if (other === self || excluded.has(other.ticket.userHash)) continue;
      return relaxedBy === null || this.#hasRelaxed(other, relaxedBy) ? other : best;
    }
    return best;
  }

  /** Drops pairs whose time apart is over (a pair set again later keeps its newer time). */
  #forgetLapsed(now: number): void {
    let done = 0;
    // Times are set as now + one fixed setting, so this list is (nearly) in order.
    while (done < this.#apartOrder.length && this.#apartOrder[done]!.until <= now) {
      const { a, b, until } = this.#apartOrder[done++]!;
      for (const [one, other] of [[a, b], [b, a]] as const) {
        const map = this.#apart.get(one);
        if (map?.get(other) !== until) continue;
        map.delete(other);
        if (map.size === 0) this.#apart.delete(one);
      }
    }
    if (done > 0) this.#apartOrder = this.#apartOrder.slice(done);
  }

  #insert(entry: Entry, now: number): void {
    const { age, tolerance, userHash } = entry.ticket;
    const cell = cellOf(age, tolerance);
    this.#byUser.set(userHash, entry);
    this.#all.insert(entry);
    // A ticket relaxed on arrival was already searched as relaxed: sweeping it adds nothing.
    if (!this.#hasRelaxed(entry, now)) this.#unswept.insert(entry);
    const buckets = entry.interests.size > 0 ? this.#picky : this.#plain;
    buckets[cell]?.insert(entry);
    for (const interest of entry.interests) {
      let byCell = this.#byInterest.get(interest);
      if (!byCell) this.#byInterest.set(interest, (byCell = new Map<number, Queue>()));
      let queue = byCell.get(cell);
      if (!queue) byCell.set(cell, (queue = new Queue(cell, interest)));
      queue.insert(entry);
    }
  }

  #remove(entry: Entry | undefined): void {
    if (!entry) return;
    for (const node of entry.nodes) {
      const queue = Queue.unlink(node);
      if (queue?.interest === undefined || queue.size > 0) continue;
      const byCell = this.#byInterest.get(queue.interest);
      byCell?.delete(queue.cell);
      if (byCell?.size === 0) this.#byInterest.delete(queue.interest);
    }
    entry.nodes = [];
    const { userHash } = entry.ticket;
    if (this.#byUser.get(userHash) === entry) this.#byUser.delete(userHash);
  }
}

function pairOf(waiting: Entry, arriving: Entry): MatchPair {
  return {
    waiting: waiting.ticket,
    arriving: arriving.ticket,
    sharedInterests: [...arriving.interests].filter((i) => waiting.interests.has(i)),
  };
}
