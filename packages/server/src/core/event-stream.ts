import type { ChatId, OmeEvent } from '@omechat/protocol';
import type { StoredEvent, Storage } from '../ports/storage.js';
import type { Session } from './accounts.js';
import { toStoredMessage, type Chats } from './chats.js';
import type { MessageCache } from './message-cache.js';
import type { EventHub } from './event-hub.js';

/** Stored events read per batch; a longer backlog leaves in several batches. */
const BATCH = 256;

export interface EventBatchOut {
  /** The id of the last durable event in or before this batch: the resume cursor. */
  id: string;
  events: OmeEvent[];
}

export interface EventStreamDeps {
  storage: Storage;
  events: EventHub;
  cache: MessageCache;
  chats: Chats;
}

/**
 * One device's event stream: the backlog after `lastEventId` (or, without it, only what
 * happens from now), then live events as they are stored. Every pending event leaves in
 * one batch, so a busy chat costs one frame per wake-up rather than one per event.
 * Delivery receipts are recorded once a batch carrying the peer's messages has been handed
 * to the transport.
 */
export async function* streamEvents(
  deps: EventStreamDeps,
  session: Session,
  lastEventId: number | null,
  signal: AbortSignal,
): AsyncGenerator<EventBatchOut> {
  const { storage, events: hub, cache, chats } = deps;
  let cursor = lastEventId ?? (await storage.lastEventId());
  let pending = true;
  const ephemerals: OmeEvent[] = [];
  let wake: (() => void) | null = null;

  const unsubscribe = hub.listen(session.userHash, (message) => {
    if (message.ephemeral) ephemerals.push(JSON.parse(message.ephemeral) as OmeEvent);
    else if (message.fromClient === session.clientHash) return; // our own message: nothing to send
    else pending = true;
    wake?.();
  });
  const onAbort = () => wake?.();
  signal.addEventListener('abort', onAbort);

  const materialize = async (e: StoredEvent): Promise<OmeEvent | null> => {
    if (e.type !== 'message.new') return JSON.parse(e.payload) as OmeEvent;
    const ref = JSON.parse(e.payload) as { chatId: ChatId; seq: number };
    const message = await cache.get(ref.chatId, ref.seq);
    return message ? { type: 'message.new', message: toStoredMessage(message) } : null; // purged
  };

  try {
    // An empty first batch tells the device the stream is live and gives it a resume cursor
    // even before anything happens.
    yield { id: String(cursor), events: [] };
    while (!signal.aborted) {
      if (!pending && ephemerals.length === 0) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        continue;
      }
      const events = ephemerals.splice(0);
      const delivered = new Map<ChatId, number>();
      if (pending) {
        pending = false;
        const stored = await storage.readEvents(session.userHash, cursor, BATCH);
        if (stored.length === BATCH) pending = true;
        for (const e of stored) {
          const event = await materialize(e);
          cursor = e.id;
          // The sending device has its ack; only the user's other devices need the copy.
          if (!event || (event.type === 'message.new' && event.message.senderClientHash === session.clientHash)) continue;
          events.push(event);
          if (event.type === 'message.new' && event.message.senderUserHash !== session.userHash) {
            delivered.set(event.message.chatId, Math.max(event.message.seq, delivered.get(event.message.chatId) ?? 0));
          }
        }
      }
      if (events.length === 0) continue;
      yield { id: String(cursor), events };
      // Receipts are written in the background (group commit batches them); the stream
      // does not wait for them before reading on.
      for (const [chatId, seq] of delivered) chats.markDelivered(chatId, session.userHash, seq).catch(() => undefined);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    unsubscribe();
  }
}
