import type { ChatId, OmeEvent } from '@omechat/protocol';
import type { StreamEntry, Storage } from '../ports/storage.js';
import type { Session } from './accounts.js';
import { toStoredMessage, type Chats } from './chats.js';
import { DomainError } from './domain-error.js';
import type { EventHub } from './event-hub.js';

/** Stream entries read from Storage at a time when filling a gap. */
const READ_BATCH = 128;
/** A batch read from Storage stops growing past this many bytes of envelopes. */
const MAX_BATCH_BYTES = 512 * 1024;

export interface EventBatchOut {
  /** The id of the last durable event in or before this batch: the resume cursor. */
  id: string;
  events: OmeEvent[];
  /** Read from Storage (a backlog): the stream can wait for the device to read it. */
  backlog: boolean;
}

export interface EventStreamDeps {
  storage: Pick<Storage, 'streams'>;
  events: EventHub;
  chats: Chats;
}

const materialize = (entry: StreamEntry): OmeEvent =>
  'message' in entry ? { type: 'message.new', message: toStoredMessage(entry.message) } : (JSON.parse(entry.payload) as OmeEvent);

const sizeOf = (event: OmeEvent) =>
  event.type === 'message.new' ? event.message.envelope.parts.reduce((n, p) => n + p.ciphertext.length + p.header.length, 200) : 200;

/**
 * One device's event stream: the backlog after `lastEventId` (or, without it, only what
 * happens from now), then live events. Live events come from the hub as they are committed
 * and leave without a Storage read while the stream's cursor is contiguous with them;
 * Storage is read only to fill a gap. Everything pending leaves in one batch, so a busy chat
 * costs one frame per wake-up rather than one per event. The device's own messages are
 * skipped (it has their acks). Delivery receipts are handed to Chats, which coalesces them.
 */
export async function* streamEvents(
  deps: EventStreamDeps,
  session: Session,
  lastEventId: number | null,
  signal: AbortSignal,
  /** A backlog batch stops growing past this many bytes of envelopes. */
  maxBatchBytes = MAX_BATCH_BYTES,
): AsyncGenerator<EventBatchOut> {
  const { storage, events: hub, chats } = deps;
  const { userHash, clientHash } = session;
  let starting = true;
  let cursor = 0;
  /** Storage holds entries after the cursor that have not been queued. */
  let gap = false;
  let lowestSeen = Infinity;
  let highestSeen = 0;
  const queue: OmeEvent[] = [];
  const waker = new Waker();

  const unsubscribe = hub.listen(userHash, (message) => {
    const { id, event } = message;
    if (message.ephemeral) {
      if (event) queue.push(event);
    } else if (id === undefined || event === undefined) {
      gap = true; // only a hint that Storage has something new
    } else if (starting) {
      lowestSeen = Math.min(lowestSeen, id);
      highestSeen = Math.max(highestSeen, id);
    } else if (id <= cursor) {
      return; // already had it
    } else if (gap || id !== cursor + 1) {
      gap = true;
      highestSeen = Math.max(highestSeen, id);
    } else {
      cursor = id;
      if (message.fromClient === clientHash) return;
      queue.push(event);
    }
    waker.handleEvent();
  });
  signal.addEventListener('abort', waker);

  try {
    const head = await storage.streams.streamHead(userHash);
    if (lastEventId === null) {
      // "From now" includes what was published since the subscription started.
      cursor = Math.min(head, lowestSeen - 1);
    } else {
      if (lastEventId > Math.max(head, highestSeen)) {
        throw new DomainError('BAD_REQUEST', 'lastEventId is not a cursor of this stream: open it without one');
      }
      cursor = lastEventId;
    }
    starting = false;
    gap = cursor < Math.max(head, highestSeen);
    // An empty first batch tells the device the stream is live and gives it a resume cursor
    // even before anything happens.
    yield { id: String(cursor), events: [], backlog: false };

    while (!signal.aborted) {
      if (!gap && queue.length === 0) {
        await waker.wait();
        continue;
      }
      // Queued events are all at or below the cursor, so they go first.
      const events = queue.splice(0);
      const backlog = gap;
      if (gap) {
        const known = highestSeen;
        const entries = await storage.streams.readStream(userHash, cursor, READ_BATCH);
        let bytes = 0;
        let full = entries.length === READ_BATCH;
        for (const entry of entries) {
          if (entry.id <= cursor) continue; // queued while the read was under way
          if (bytes > maxBatchBytes) {
            full = true;
            break;
          }
          cursor = entry.id;
          if ('message' in entry && entry.message.senderClientHash === clientHash) continue;
          const event = materialize(entry);
          bytes += sizeOf(event);
          events.push(event);
        }
        // Ids published before the read began and not found are gone (erased with a chat).
        if (!full && cursor < known) cursor = known;
        gap = full || cursor < highestSeen;
      }
      if (events.length === 0) continue;
      yield { id: String(cursor), events, backlog };
      noteDelivered(chats, session, events);
    }
  } finally {
    signal.removeEventListener('abort', waker);
    unsubscribe();
  }
}

/**
 * Wakes a stream waiting for events; also the listener of its abort signal, as an object
 * rather than a closure (see Subscription in transport/trpc-ws.ts: memory per idle stream).
 */
class Waker {
  #resolve: (() => void) | null = null;

  wait(): Promise<void> {
    return new Promise((resolve) => (this.#resolve = resolve));
  }

  handleEvent(): void {
    const resolve = this.#resolve;
    this.#resolve = null;
    resolve?.();
  }
}

/** Tells Chats how far this user has been sent each chat's messages from the peer. */
function noteDelivered(chats: Chats, session: Session, events: readonly OmeEvent[]): void {
  let upTo: Map<ChatId, number> | undefined;
  for (const event of events) {
    if (event.type !== 'message.new' || event.message.senderUserHash === session.userHash) continue;
    const { chatId, seq } = event.message;
    upTo ??= new Map();
    upTo.set(chatId, Math.max(upTo.get(chatId) ?? 0, seq));
  }
  if (upTo) for (const [chatId, seq] of upTo) chats.markDelivered(chatId, session.userHash, seq);
}
