import type { UserHash } from '@omechat/protocol';
import type { Clock } from '../ports/clock.js';
import type { BanRecord, Storage } from '../ports/storage.js';

/** What a request comes from; any part may be unknown (an anonymous connection has no user). */
export interface BanSubject {
  /** The caller's network keys, narrowest first (transport/network.ts); a ban on any applies. */
  networkKeys?: readonly string[] | undefined;
  userHash?: UserHash | undefined;
  clientHash?: string | undefined;
}

/** How long a process trusts its ban cache without a reload, in case a bus message was lost. */
const MAX_AGE_MS = 30_000;

/**
 * Every active ban, in memory, because a ban check runs on every call including each message
 * sent. This process's own changes apply at once (`add`, `revoke`); other processes' arrive as
 * a `bans-changed` bus message and trigger a reload, and a reload also runs every 30 s.
 * Expiry needs no reload: a lookup compares with the clock.
 */
export class BanCache {
  #byTarget = new Map<string, BanRecord[]>();
  #ready: Promise<void> | null = null;
  #loadedAt = 0;
  /** Bumped by every change, so a reload that started before it cannot undo it. */
  #generation = 0;

  constructor(
    private readonly storage: Pick<Storage, 'moderation'>,
    private readonly clock: Clock,
  ) {}

  /** The ban that applies, preferring the account layer, then device, then network. */
  async find(subject: BanSubject): Promise<BanRecord | null> {
    await (this.#ready ??= this.reload());
    const now = this.clock.now();
    if (now - this.#loadedAt > MAX_AGE_MS) this.reload().catch(() => undefined);
    const keys: [string, string | undefined][] = [
      ['account', subject.userHash],
      ['device', subject.clientHash],
      ...(subject.networkKeys ?? []).map((key): [string, string] => ['network', key]),
    ];
    for (const [layer, target] of keys) {
      if (target === undefined) continue;
      const ban = longest(this.#byTarget.get(`${layer}:${target}`), now);
      if (ban) return ban;
    }
    return null;
  }

  reload(): Promise<void> {
    const generation = ++this.#generation;
    const at = this.clock.now();
    const loading = this.storage.moderation.listBans({ activeAt: at }).then((bans) => {
      if (generation !== this.#generation) return;
      const byTarget = new Map<string, BanRecord[]>();
      for (const ban of bans) push(byTarget, ban);
      this.#byTarget = byTarget;
      this.#loadedAt = at;
    });
    // A failed first load must not stay cached: the next lookup tries again.
    loading.catch(() => {
      if (this.#ready === loading) this.#ready = null;
    });
    return loading;
  }

  add(bans: BanRecord[]): void {
    this.#generation++;
    for (const ban of bans) push(this.#byTarget, ban);
  }

  /** Drops a ban and the bans it brought with it. */
  revoke(banId: number): void {
    this.#generation++;
    for (const [key, bans] of this.#byTarget) {
      const kept = bans.filter((b) => b.banId !== banId && b.parentBanId !== banId);
      if (kept.length === 0) this.#byTarget.delete(key);
      else this.#byTarget.set(key, kept);
    }
  }
}

function push(map: Map<string, BanRecord[]>, ban: BanRecord) {
  const key = `${ban.layer}:${ban.target}`;
  const list = map.get(key);
  if (list) list.push(ban);
  else map.set(key, [ban]);
}

/** Of the bans in force at `now`, the one that lasts longest (permanent first). */
function longest(bans: BanRecord[] | undefined, now: number): BanRecord | null {
  let best: BanRecord | null = null;
  for (const ban of bans ?? []) {
    if (ban.revokedAt !== null || (ban.expiresAt !== null && ban.expiresAt <= now)) continue;
    if (!best || ban.expiresAt === null || (best.expiresAt !== null && ban.expiresAt > best.expiresAt)) best = ban;
  }
  return best;
}

/** Cached blocks are bounded; the oldest entries go first. */
const MAX_BLOCK_ENTRIES = 50_000;

/**
 * Per user, everyone they blocked or were blocked by. Read on every message sent and every
 * match attempt; dropped for both users when a block between them changes (here or, via the
 * bus, in another process).
 */
export class BlockCache {
  readonly #sets = new Map<UserHash, Promise<ReadonlySet<UserHash>>>();

  constructor(private readonly storage: Pick<Storage, 'moderation'>) {}

  get(userHash: UserHash): Promise<ReadonlySet<UserHash>> {
    let entry = this.#sets.get(userHash);
    if (!entry) {
      const loading = this.storage.moderation.listBlocks(userHash).then(
        (blocks) => new Set(blocks.map((b) => (b.blockerUserHash === userHash ? b.blockedUserHash : b.blockerUserHash))),
      );
      loading.catch(() => {
        if (this.#sets.get(userHash) === loading) this.#sets.delete(userHash);
      });
      entry = loading;
      this.#sets.set(userHash, entry);
      if (this.#sets.size > MAX_BLOCK_ENTRIES) this.#sets.delete(this.#sets.keys().next().value!);
    }
    return entry;
  }

  forget(userHashes: readonly UserHash[]): void {
    for (const u of userHashes) this.#sets.delete(u);
  }
}
