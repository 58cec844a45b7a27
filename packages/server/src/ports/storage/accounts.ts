import type { ClientHash, UserHash } from '@omechat/protocol';

export interface UserRecord {
  userHash: UserHash;
  /** As the user typed it, after NFKC. */
  username: string;
  /** Lower-cased username: the unique key. */
  usernameKey: string;
  age: number;
  /** argon2id PHC string. */
  secretHash: string;
  createdAt: number;
}

export interface ClientRecord {
  clientHash: ClientHash;
  userHash: UserHash;
  /** SHA-256 of the access token, hex. */
  tokenHash: string;
  deviceName: string | null;
  createdAt: number;
  lastSeenAt: number | null;
}

export type CreateUserResult = 'created' | 'username_taken' | 'user_exists';
export type CreateClientResult = 'created' | 'client_exists' | 'no_user';

/** Users and their devices (clients). */
export interface AccountStore {
  createUser(user: UserRecord): Promise<CreateUserResult>;
  getUser(userHash: UserHash): Promise<UserRecord | null>;
  getUserByUsernameKey(usernameKey: string): Promise<UserRecord | null>;
  setSecretHash(userHash: UserHash, secretHash: string): Promise<boolean>;
  /**
   * Erases the user, their clients (and keys), their stream and cursors, the blocks and sightings
   * naming them and the reports they made. Returns the client hashes that existed, so live
   * connections can be closed.
   * Kept, as evidence and for the peer: bans and audit entries; reports against the user
   * (marked `reportedDeletedAt = at`, purged by `purgeReportsOfDeletedUsers` later); and each
   * chat whose other member still has an account, with its messages (it stays in the
   * peer's list, ended). A chat whose other member is gone too is erased with its messages.
   */
  deleteUser(userHash: UserHash, at: number): Promise<ClientHash[]>;

  // --- clients (devices) ----------------------------------------------------
  createClient(client: ClientRecord): Promise<CreateClientResult>;
  getClient(clientHash: ClientHash): Promise<ClientRecord | null>;
  listClients(userHash: UserHash): Promise<ClientRecord[]>;
  deleteClient(clientHash: ClientHash): Promise<boolean>;
  touchClient(clientHash: ClientHash, at: number): Promise<void>;
}
