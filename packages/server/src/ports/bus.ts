import type { ClientHash, OmeEvent, UserHash } from '@omechat/protocol';

/**
 * Fan-out between the core and live connections, possibly across server processes.
 * The local bus delivers in-process; a Redis bus will deliver across processes.
 * Delivery is at-most-once: durable events are also in Storage, and connections
 * catch up from there, so a lost bus message delays an event but never loses it.
 */
export type BusMessage =
  /**
   * An event for this user. Durable: committed at `id` in the user's stream (`fromClient`:
   * that device's own message, which its stream skips). Ephemeral: `event` only, never
   * stored. Neither `id` nor `event`: something new is in Storage; streams read it there.
   */
  | {
      kind: 'events';
      userHash: UserHash;
      id?: number;
      event?: OmeEvent;
      ephemeral?: boolean;
      fromClient?: ClientHash;
    }
  /** Close these devices' connections now. */
  | { kind: 'close-clients'; clientHashes: ClientHash[]; reason: 'revoked' | 'banned' }
  /** Close all of this user's connections now. */
  | { kind: 'close-user'; userHash: UserHash; reason: 'revoked' | 'banned' }
  /** Close every connection from this network (keyed hash) now. */
  | { kind: 'close-network'; networkKey: string; reason: 'banned' }
  /** Bans changed: every process reloads its cache of active bans. */
  | { kind: 'bans-changed' }
  /** A block between these users was added or removed: drop their cached block lists. */
  | { kind: 'blocks-changed'; userHashes: UserHash[] };

export interface Bus {
  publish(message: BusMessage): void;
  subscribe(handler: (message: BusMessage) => void): () => void;
  /** Whether messages now reach every process; false during an outage of the medium. */
  connected(): boolean;
  /**
   * Calls `handler` each time the bus comes back after an outage. Whatever other processes
   * published meanwhile was lost, so listeners must re-read what they hold from Storage
   * (every live stream catches up at once instead of waiting for its next event).
   * Returns the unsubscribe.
   */
  onReconnect(handler: () => void): () => void;
  close(): Promise<void>;
}
