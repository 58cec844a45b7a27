import type { ClientHash, OmeEvent, UserHash } from '@omechat/protocol';
import type { Bus, BusMessage } from '../ports/bus.js';
import type { NewEvent, StoredEvent, Storage } from '../ports/storage.js';

/** Builds the stored form of a protocol event for a user. */
export function newEvent(userHash: UserHash, event: OmeEvent): NewEvent {
  if (event.type === 'message.new') {
    // The message itself lives in the message store; the event only points at it.
    return { userHash, type: event.type, payload: JSON.stringify({ chatId: event.message.chatId, seq: event.message.seq }) };
  }
  return { userHash, type: event.type, payload: JSON.stringify(event) };
}

export type EventsMessage = Extract<BusMessage, { kind: 'events' }>;

/**
 * Makes durable events known to live connections: after Storage has appended them, one
 * bus message per user wakes that user's event streams, which then read from Storage.
 * Reading back from Storage (not trusting the bus payload) keeps every stream gap-free and
 * in order even when two appends race, and lets a woken stream take all pending events
 * in one batch.
 */
export class EventHub {
  /** Streams by user: one bus subscription per process, so a wake touches only its user. */
  readonly #listeners = new Map<UserHash, Set<(message: EventsMessage) => void>>();
  readonly #unsubscribe: () => void;

  constructor(
    private readonly storage: Storage,
    private readonly bus: Bus,
  ) {
    this.#unsubscribe = bus.subscribe((message) => {
      if (message.kind !== 'events') return;
      for (const listener of this.#listeners.get(message.userHash) ?? []) listener(message);
    });
  }

  /** Calls `listener` for every wake of this user's streams; returns the unsubscribe. */
  listen(userHash: UserHash, listener: (message: EventsMessage) => void): () => void {
    let set = this.#listeners.get(userHash);
    if (!set) this.#listeners.set(userHash, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(userHash);
    };
  }

  /** `fromClient`: the events are that device's own message (its stream need not wake). */
  announce(events: StoredEvent[], fromClient?: ClientHash): void {
    for (const userHash of new Set(events.map((e) => e.userHash))) this.wake(userHash, fromClient);
  }

  wake(userHash: UserHash, fromClient?: ClientHash): void {
    this.bus.publish(fromClient ? { kind: 'events', userHash, fromClient } : { kind: 'events', userHash });
  }

  close(): void {
    this.#unsubscribe();
    this.#listeners.clear();
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
