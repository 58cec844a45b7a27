import type { OmeEvent, UserHash } from '@omechat/protocol';
import type { Bus } from '../ports/bus.js';
import type { NewEvent, StoredEvent, Storage } from '../ports/storage.js';

/** Builds the stored form of a protocol event for a user. */
export function newEvent(userHash: UserHash, event: OmeEvent): NewEvent {
  if (event.type === 'message.new') {
    // The message itself lives in the message store; the event only points at it.
    return { userHash, type: event.type, payload: JSON.stringify({ chatId: event.message.chatId, seq: event.message.seq }) };
  }
  return { userHash, type: event.type, payload: JSON.stringify(event) };
}

/**
 * Makes durable events known to live connections: after Storage has appended them, one
 * bus message per user wakes that user's event streams, which then read from Storage.
 * Reading back from Storage (not trusting the bus payload) keeps every stream gap-free and
 * in order even when two appends race, and lets a woken stream take all pending events
 * in one batch.
 */
export class EventHub {
  constructor(
    private readonly storage: Storage,
    private readonly bus: Bus,
  ) {}

  announce(events: StoredEvent[]): void {
    for (const userHash of new Set(events.map((e) => e.userHash))) this.wake(userHash);
  }

  wake(userHash: UserHash): void {
    this.bus.publish({ kind: 'events', userHash });
  }

  async append(events: NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    this.announce(await this.storage.appendEvents(events));
  }

  /** Not stored, not replayed: typing indicators. */
  ephemeral(userHash: UserHash, event: OmeEvent): void {
    this.bus.publish({ kind: 'events', userHash, ephemeral: JSON.stringify(event) });
  }
}
