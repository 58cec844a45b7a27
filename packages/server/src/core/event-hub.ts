import type { ClientHash, OmeEvent, UserHash } from '@omechat/protocol';
import type { Bus, BusMessage } from '../ports/bus.js';
import type { NewEvent, StoredEvent, Storage } from '../ports/storage.js';

/** Builds the stored form of a protocol event for a user. */
export function newEvent(userHash: UserHash, event: OmeEvent): NewEvent {
  return { userHash, type: event.type, payload: JSON.stringify(event) };
}

export type EventsMessage = Extract<BusMessage, { kind: 'events' }>;

/**
 * Makes durable events known to live streams. Once Storage has committed an event, the hub
 * publishes it with its id in its user's stream; a stream whose cursor is just below that
 * id takes the event from the message itself, without reading Storage. A stream that sees
 * a gap (a bus message lost, another process's append seen out of order, a resume) reads
 * Storage from its cursor, so every stream stays gap-free and in order either way.
 */
export class EventHub {
  /** Streams by user: one bus subscription per process, so a publish touches only its user. */
  readonly #listeners = new Map<UserHash, Set<(message: EventsMessage) => void>>();
  readonly #unsubscribe: () => void;

  constructor(
    private readonly storage: Pick<Storage, 'streams'>,
    private readonly bus: Bus,
  ) {
    const offMessages = bus.subscribe((message) => {
      if (message.kind !== 'events') return;
      const listeners = this.#listeners.get(message.userHash);
      if (listeners) for (const listener of listeners) listener(message);
    });
    // Wakes other processes published during a bus outage are lost: once it is back, every
    // live stream re-reads Storage at once instead of waiting for its user's next event.
    const offReconnect = bus.onReconnect(() => {
      for (const [userHash, listeners] of this.#listeners) for (const listener of listeners) listener({ kind: 'events', userHash });
    });
    this.#unsubscribe = () => {
      offMessages();
      offReconnect();
    };
  }

  /** Calls `listener` for every event published to this user; returns the unsubscribe. */
  listen(userHash: UserHash, listener: (message: EventsMessage) => void): () => void {
    let set = this.#listeners.get(userHash);
    if (!set) this.#listeners.set(userHash, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(userHash);
    };
  }

  /**
   * A committed event at `id` in the user's stream. `fromClient`: it is that device's own
   * message, which its stream skips (the device has its ack).
   */
  publish(userHash: UserHash, id: number, event: OmeEvent, fromClient?: ClientHash): void {
    this.bus.publish(fromClient ? { kind: 'events', userHash, id, event, fromClient } : { kind: 'events', userHash, id, event });
  }

  /** Publishes events Storage has just stored. */
  announce(stored: readonly StoredEvent[]): void {
    for (const e of stored) this.publish(e.userHash, e.id, JSON.parse(e.payload) as OmeEvent);
  }

  /** Stores events, then publishes them. */
  async append(events: NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    this.announce(await this.storage.streams.appendEvents(events));
  }

  /** Not stored, not replayed: typing indicators. */
  ephemeral(userHash: UserHash, event: OmeEvent): void {
    this.bus.publish({ kind: 'events', userHash, event, ephemeral: true });
  }

  close(): void {
    this.#unsubscribe();
    this.#listeners.clear();
  }
}
