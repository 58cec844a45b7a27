import {
  isReservedUsername,
  LIMITS,
  usernameKey,
  type ClientHash,
  type ClientInfo,
  type Credentials,
  type LoginOutput,
  type Me,
  type RegisterOutput,
  type UserHash,
} from '@omechat/protocol';
import type { Bus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { Random } from '../ports/random.js';
import type { SecretHasher } from '../ports/secret-hasher.js';
import type { Storage, UserRecord } from '../ports/storage.js';
import { DomainError } from './domain-error.js';
import { newEvent, type EventHub } from './event-hub.js';
import { hashToken, tokenMatches } from './tokens.js';

/** Who is calling: established once per connection from its connectionParams. */
export interface Session {
  userHash: UserHash;
  clientHash: ClientHash;
}

export interface AccountsDeps {
  storage: Pick<Storage, 'accounts'>;
  hasher: SecretHasher;
  random: Random;
  clock: Clock;
  bus: Bus;
  events: EventHub;
}

/** Runs before an account's data is erased, so other parts can end chats and tell peers. */
export type BeforeDeleteHook = (userHash: UserHash) => Promise<void>;
/** Runs once a login's secret is verified, before a device is created; throws to refuse it. */
export type LoginGuard = (userHash: UserHash) => Promise<void>;

export class Accounts {
  readonly #deps: AccountsDeps;
  readonly #beforeDelete: BeforeDeleteHook[] = [];
  readonly #loginGuards: LoginGuard[] = [];
  /** A hash to verify against when the username is unknown, so both failures cost the same. */
  #decoyHash: Promise<string> | undefined;

  constructor(deps: AccountsDeps) {
    this.#deps = deps;
  }

  onBeforeDelete(hook: BeforeDeleteHook): void {
    this.#beforeDelete.push(hook);
  }

  /** Guards run after the secret is verified, so only its holder learns why login failed. */
  addLoginGuard(guard: LoginGuard): void {
    this.#loginGuards.push(guard);
  }

  async register(input: { username: string; age: number }): Promise<RegisterOutput> {
    const { storage, hasher, random, clock } = this.#deps;
    this.assertUsernameAllowed(input.username);
    const secret = random.secret();
    const userHash = random.userHash();
    const result = await storage.accounts.createUser({
      userHash,
      username: input.username,
      usernameKey: usernameKey(input.username),
      age: input.age,
      secretHash: await hasher.hash(secret),
      createdAt: clock.now(),
    });
    if (result === 'username_taken') throw new DomainError('USERNAME_TAKEN', 'Username is taken');
    if (result !== 'created') throw new DomainError('CONFLICT', 'Try again');
    return { userHash, secret };
  }

  /**
   * Refuses staff-like names with USERNAME_RESERVED (a code of its own, not a schema error, so
   * a client can say why). Cheap: the router asks before the proof-of-work and the registration
   * limit are spent on a name that cannot be had.
   */
  assertUsernameAllowed(username: string): void {
    if (isReservedUsername(username)) throw new DomainError('USERNAME_RESERVED', 'This username looks like a staff name; choose another');
  }

  async login(input: {
    username: string;
    secret: string;
    deviceName?: string | undefined;
  }): Promise<LoginOutput> {
    const { storage, hasher, random, clock } = this.#deps;
    const user = await storage.accounts.getUserByUsernameKey(usernameKey(input.username));
    const ok = user
      ? await hasher.verify(user.secretHash, input.secret)
      : await hasher.verify(await this.#decoy(), input.secret).then(() => false);
    if (!user || !ok) throw new DomainError('INVALID_CREDENTIALS', 'Wrong username or secret');
    for (const guard of this.#loginGuards) await guard(user.userHash);

    const clients = await storage.accounts.listClients(user.userHash);
    if (clients.length >= LIMITS.maxClientsPerUser) {
      throw new DomainError('TOO_MANY_CLIENTS', `At most ${LIMITS.maxClientsPerUser} devices; revoke one first`);
    }
    const clientHash = random.clientHash();
    const accessToken = random.accessToken();
    const created = await storage.accounts.createClient({
      clientHash,
      userHash: user.userHash,
      tokenHash: hashToken(accessToken),
      deviceName: input.deviceName ?? null,
      createdAt: clock.now(),
      lastSeenAt: null,
    });
    if (created !== 'created') throw new DomainError('CONFLICT', 'Try again');
    return { userHash: user.userHash, clientHash, accessToken };
  }

  /** Checks a connection's credentials; null when they are not valid. */
  async authenticate(credentials: Credentials): Promise<Session | null> {
    const client = await this.#deps.storage.accounts.getClient(credentials.clientHash);
    if (!client || !tokenMatches(client.tokenHash, credentials.accessToken)) return null;
    // Last-seen is a hint, not a record: written in the background, not on the connect path.
    this.#deps.storage.accounts.touchClient(client.clientHash, this.#deps.clock.now()).catch(() => undefined);
    return { userHash: client.userHash, clientHash: client.clientHash };
  }

  /** True while the session's client still exists (it may have been revoked meanwhile). */
  async isLive(session: Session): Promise<boolean> {
    return (await this.#deps.storage.accounts.getClient(session.clientHash)) !== null;
  }

  async me(session: Session): Promise<Me> {
    const user = await this.#requireUser(session);
    return {
      userHash: user.userHash,
      clientHash: session.clientHash,
      username: user.username,
      age: user.age,
      createdAt: user.createdAt,
    };
  }

  /** Needs the current secret: a device's token is not the account (a stolen one must not take it). */
  async rotateSecret(session: Session, currentSecret: string): Promise<{ secret: string }> {
    const user = await this.#requireUser(session);
    await this.#checkSecret(user, currentSecret);
    const secret = this.#deps.random.secret();
    await this.#deps.storage.accounts.setSecretHash(session.userHash, await this.#deps.hasher.hash(secret));
    return { secret };
  }

  async deleteAccount(session: Session, secret: string): Promise<void> {
    const user = await this.#requireUser(session);
    if (!(await this.#deps.hasher.verify(user.secretHash, secret))) {
      throw new DomainError('INVALID_CREDENTIALS', 'Wrong secret');
    }
    for (const hook of this.#beforeDelete) await hook(user.userHash);
    const clientHashes = await this.#deps.storage.accounts.deleteUser(user.userHash, this.#deps.clock.now());
    // The calling device is signed out by the transport after its reply; the others are closed now.
    const others = clientHashes.filter((c) => c !== session.clientHash);
    this.#deps.bus.publish({ kind: 'close-clients', clientHashes: others, reason: 'revoked' });
  }

  async listClients(session: Session): Promise<ClientInfo[]> {
    const clients = await this.#deps.storage.accounts.listClients(session.userHash);
    return clients.map((c) => ({
      clientHash: c.clientHash,
      deviceName: c.deviceName,
      createdAt: c.createdAt,
      lastSeenAt: c.lastSeenAt,
      current: c.clientHash === session.clientHash,
    }));
  }

  /**
   * A device may always revoke itself; revoking another needs the account secret, so a stolen
   * token cannot sign the owner's devices out. The secret is checked before the device is looked
   * up: without it, nothing is learnt about other devices.
   */
  async revokeClient(session: Session, clientHash: ClientHash, secret: string | undefined): Promise<void> {
    if (clientHash !== session.clientHash) {
      const user = await this.#requireUser(session);
      if (secret === undefined) throw new DomainError('INVALID_CREDENTIALS', 'Revoking another device needs the account secret');
      await this.#checkSecret(user, secret);
    }
    const client = await this.#deps.storage.accounts.getClient(clientHash);
    // Another user's device gets the same answer as a missing one: no probing for hashes.
    if (!client || client.userHash !== session.userHash) {
      throw new DomainError('NOT_FOUND', 'No such device');
    }
    await this.#deps.storage.accounts.deleteClient(clientHash);
    // The calling device is signed out by the transport after its reply (see account.delete).
    if (clientHash !== session.clientHash) {
      this.#deps.bus.publish({ kind: 'close-clients', clientHashes: [clientHash], reason: 'revoked' });
    }
    // The user's other devices learn of it through their event streams.
    await this.#deps.events.append([newEvent(session.userHash, { type: 'session.revoked', clientHash })]);
  }

  /** Callers run this under RateLimits.secretCheck: a wrong secret costs an argon2 hash, like a login. */
  async #checkSecret(user: UserRecord, secret: string): Promise<void> {
    if (!(await this.#deps.hasher.verify(user.secretHash, secret))) throw new DomainError('INVALID_CREDENTIALS', 'Wrong secret');
  }

  async #requireUser(session: Session) {
    const user = await this.#deps.storage.accounts.getUser(session.userHash);
    if (!user) throw new DomainError('UNAUTHORIZED', 'Account no longer exists');
    return user;
  }

  #decoy(): Promise<string> {
    this.#decoyHash ??= this.#deps.hasher.hash(this.#deps.random.secret());
    return this.#decoyHash;
  }
}
