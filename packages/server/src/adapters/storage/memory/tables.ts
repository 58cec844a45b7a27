import type { ChatId, ClientHash, IdentityKeys, KemPrekey, Prekey, SignedPrekey, UserHash } from '@omechat/protocol';
import { systemClock, type Clock } from '../../../ports/clock.js';
import type { ChatCursor, ChatRecord, ClientRecord, MessageRecord, NewEvent, StoredEvent, UserRecord } from '../../../ports/storage.js';

export interface Stream {
  head: number;
  /** Events are copies; a message entry points at the record in its chat. */
  entries: ({ id: number; event: StoredEvent } | { id: number; message: MessageRecord })[];
}

export interface ChatEntry {
  chat: ChatRecord;
  /** Ascending by seq: seqs are assigned in append order and purging keeps the order. */
  messages: MessageRecord[];
  /** Idempotency index: `${senderClientHash} ${clientMessageId}` -> message. */
  bySenderKey: Map<string, MessageRecord>;
  cursors: Map<UserHash, ChatCursor>;
}

export const copy = <T>(value: T): T => structuredClone(value);
export const senderKey = (m: Pick<MessageRecord, 'senderClientHash' | 'clientMessageId'>) =>
  `${m.senderClientHash} ${m.clientMessageId}`;

/**

/**
 * What MemoryStorage holds, shared by its stores (one file each). Nothing survives a
 * restart, so "durable" here means "visible to every later call".
 */
export class MemoryTables {
  readonly clock: Clock;
  readonly users = new Map<UserHash, UserRecord>();
  readonly userByKey = new Map<string, UserHash>();
  readonly clients = new Map<ClientHash, ClientRecord>();
  readonly chats = new Map<ChatId, ChatEntry>();
  readonly deviceKeys = new Map<
    ClientHash,
    {
      identity: IdentityKeys;
      signedPrekey: SignedPrekey;
      oneTime: Map<number, Prekey>;
      lastResortKem: KemPrekey | undefined;
      oneTimeKem: Map<number, KemPrekey>;
    }
  >();
  /** Each user's stream, ascending by id: reads look only at the reader's own entries. */
  readonly streams = new Map<UserHash, Stream>();
  /** Chats by member, so a user's chats are found without visiting every chat. */
  readonly chatsOf = new Map<UserHash, Set<ChatId>>();
  closed = false;

  constructor(clock: Clock = systemClock) {
    this.clock = clock;
  }

  append(events: readonly NewEvent[]): StoredEvent[] {
    const createdAt = this.clock.now();
    return events.map(({ userHash, type, payload }) => {
      const stream = this.stream(userHash);
      const event: StoredEvent = { id: ++stream.head, userHash, type, payload, createdAt };
      stream.entries.push({ id: event.id, event });
      return copy(event);
    });
  }

  stream(userHash: UserHash): Stream {
    let stream = this.streams.get(userHash);
    if (!stream) this.streams.set(userHash, (stream = { head: 0, entries: [] }));
    return stream;
  }

  assertOpen(): void {
    if (this.closed) throw new Error('MemoryStorage is closed');
  }
}

export function copyOrNull<T>(value: T | undefined): T | null {
  return value === undefined ? null : copy(value);
}

/** Index of the first item whose key is above `after`, in a list ascending by that key. */
export function firstAbove<T>(items: readonly T[], key: (item: T) => number, after: number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key(items[mid]!) <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Binary order, as SQL databases compare ids, so adapters list ties the same way. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
