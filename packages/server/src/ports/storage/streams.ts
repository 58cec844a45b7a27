import type { UserHash } from '@omechat/protocol';
import type { MessageRecord } from './chats.js';

/**
 * A durable event in a user's stream. `id` is its position in that user's stream: ids of one
 * user increase by one per event, in commit order, and are never reused (every user has
 * their own sequence, so appends for different users share no counter or lock). It is the
 * resume cursor a device hands back. `payload` is the JSON of the protocol event.
 * A message is not an event row: it is stored once, in its chat, with its position in each
 * member's stream, and read back as a stream entry (see `readStream`).
 */
export interface StoredEvent {
  id: number;
  userHash: UserHash;
  type: string;
  payload: string;
  createdAt: number;
}

/** What a user's stream holds at one position: an event, or a message of one of their chats. */
export type StreamEntry = StoredEvent | { id: number; userHash: UserHash; message: MessageRecord };

export interface NewEvent {
  userHash: UserHash;
  type: string;
  payload: string;
}

/** Each user's stream of events (and, read back, the messages of their chats). */
export interface StreamStore {
  // --- events -----------------------------------------------------------------
  appendEvents(events: NewEvent[]): Promise<StoredEvent[]>;
  /** A user's stream after `afterId`: events and messages, ascending by id, at most `limit`. */
  readStream(userHash: UserHash, afterId: number, limit: number): Promise<StreamEntry[]>;
  /** The highest id assigned in a user's stream so far (0 when none). */
  streamHead(userHash: UserHash): Promise<number>;

  // --- retention --------------------------------------------------------------
  /** Deletes messages sent before `before` and events created before it; returns counts. */
  purgeOlderThan(before: number): Promise<{ messages: number; events: number }>;
}
