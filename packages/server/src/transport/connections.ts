import { CLOSE_CODES, type ClientHash, type UserHash } from '@omechat/protocol';
import type { WebSocket } from 'ws';
import type { Session } from '../core/accounts.js';
import type { AdminSession } from '../core/moderation.js';
import type { Bus, BusMessage } from '../ports/bus.js';
import type { Connection } from '../trpc/init.js';
import type { DomainError } from '../core/domain-error.js';

/** How long a stream waits for a peer that reads slowly before calling it a slow consumer. */
const DRAIN_WAIT_MS = 15_000;

/** A WebSocket connection as the procedures see it. */
export class SocketConnection implements Connection {
  session: Session | null = null;
  closing = false;
  admin: AdminSession | null = null;
  refused: DomainError | null = null;

  readonly networkKey: string;

  constructor(
    readonly id: number,
    readonly networkKeys: readonly string[],
    private readonly ws: WebSocket,
    /** Called once the session is forgotten (sign-out or close), with the session it had. */
    private readonly onSignOut: (conn: SocketConnection, session: Session) => void,
  ) {
    this.networkKey = networkKeys[0]!;
  }

  close(code: number, reason: string): void {
    this.closing = true;
    this.ws.close(code, reason);
  }

  signOut(): void {
    const session = this.session;
    if (!session) return;
    this.onSignOut(this, session);
    this.session = null;
  }

  closeAfterReply(code: number, reason: string): void {
    this.closing = true;
    // Replies are written within the microtasks that follow the resolver; a macrotask later
    // the reply is queued on the socket ahead of the close frame.
    setTimeout(() => this.ws.close(code, reason), 20);
  }

  bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  async drained(bytes: number): Promise<boolean> {
    const deadline = Date.now() + DRAIN_WAIT_MS;
    while (this.ws.bufferedAmount >= bytes) {
      if (this.ws.readyState !== this.ws.OPEN || Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return true;
  }
}

/**
 * Live connections by device and by user, so the core can close a revoked device's or a
 * banned user's sockets at once, wherever the order comes from (via the Bus).
 */
export class ConnectionRegistry {
  readonly #byClient = new Map<ClientHash, Members>();
  readonly #byUser = new Map<UserHash, Members>();
  /** Every connection, signed in or not, by network key: for network bans. */
  readonly #byNetwork = new Map<string, Members>();
  readonly #unsubscribe: () => void;

  constructor(bus: Bus) {
    this.#unsubscribe = bus.subscribe((message) => this.#onBus(message));
  }

  add(conn: Connection): void {
    for (const key of conn.networkKeys) addTo(this.#byNetwork, key, conn);
    if (!conn.session) return;
    addTo(this.#byClient, conn.session.clientHash, conn);
    addTo(this.#byUser, conn.session.userHash, conn);
  }

  /** A connection that closed, signed in or not: gone from every index. */
  remove(conn: Connection): void {
    for (const key of conn.networkKeys) removeFrom(this.#byNetwork, key, conn);
    this.forgetSession(conn);
  }

  /** A connection whose session ends (sign-out, or close): no longer found by device or user. */
  forgetSession(conn: Connection): void {
    if (!conn.session) return;
    removeFrom(this.#byClient, conn.session.clientHash, conn);
    removeFrom(this.#byUser, conn.session.userHash, conn);
  }

  /** Number of live authenticated connections of a user (for presence-bound state). */
  countForUser(userHash: UserHash): number {
    return countOf(this.#byUser.get(userHash));
  }

  get size(): number {
    let n = 0;
    for (const members of this.#byClient.values()) n += countOf(members);
    return n;
  }

  dispose(): void {
    this.#unsubscribe();
  }

  #onBus(message: BusMessage): void {
    if (message.kind === 'close-clients') {
      const code = message.reason === 'banned' ? CLOSE_CODES.BANNED : CLOSE_CODES.SESSION_REVOKED;
      for (const clientHash of message.clientHashes) {
        for (const conn of membersOf(this.#byClient, clientHash)) conn.close(code, message.reason);
      }
    } else if (message.kind === 'close-user') {
      const code = message.reason === 'banned' ? CLOSE_CODES.BANNED : CLOSE_CODES.SESSION_REVOKED;
      for (const conn of membersOf(this.#byUser, message.userHash)) conn.close(code, message.reason);
    } else if (message.kind === 'close-network') {
      // Moderators connect from anywhere: a network ban must not lock them out of unbanning it.
      for (const conn of membersOf(this.#byNetwork, message.networkKey)) {
        if (!conn.admin) conn.close(CLOSE_CODES.BANNED, message.reason);
      }
    }
  }
}

/**
 * The connections under one key: the connection itself while it is the only one (most
 * devices have one socket), a Set from the second on; a Set of one cost ~250 bytes per
 * connection (bench/memory.ts).
 */
type Members = Connection | Set<Connection>;

const countOf = (members: Members | undefined) => (members === undefined ? 0 : members instanceof Set ? members.size : 1);

function membersOf<K>(map: Map<K, Members>, key: K): Iterable<Connection> {
  const members = map.get(key);
  return members === undefined ? [] : members instanceof Set ? members : [members];
}

function addTo<K>(map: Map<K, Members>, key: K, conn: Connection) {
  const members = map.get(key);
  if (members === undefined) map.set(key, conn);
  else if (members instanceof Set) members.add(conn);
  else if (members !== conn) map.set(key, new Set([members, conn]));
}

function removeFrom<K>(map: Map<K, Members>, key: K, conn: Connection) {
  const members = map.get(key);
  if (members === conn) map.delete(key);
  else if (members instanceof Set) {
    members.delete(conn);
    if (members.size === 1) map.set(key, members.values().next().value!);
  }
}
