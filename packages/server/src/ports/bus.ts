import type { ClientHash, UserHash } from '@omechat/protocol';

/**
 * Fan-out between the core and live connections, possibly across server processes.
 * The local bus delivers in-process; a Redis bus will deliver across processes.
 * Delivery is at-most-once: durable events are also in Storage, and connections
 * catch up from there, so a lost bus message delays an event but never loses it.
 */
export type BusMessage =
  /**
   * New durable events exist for this user in Storage, or an ephemeral one is attached.
   * `fromClient`: they are that device's own message, which its stream skips anyway.
   */
  | { kind: 'events'; userHash: UserHash; ephemeral?: string; fromClient?: ClientHash }
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
  close(): Promise<void>;
}
