import type { ChatId, UserHash } from '@omechat/protocol';
import type { Clock } from '../ports/clock.js';
import type { Matcher, MatchPair } from '../ports/matcher.js';
import type { Random } from '../ports/random.js';
import type { Storage } from '../ports/storage.js';
import type { Session } from './accounts.js';
import type { Chats } from './chats.js';
import { DomainError } from './domain-error.js';
import { newEvent, type EventHub } from './event-hub.js';
import type { Metrics } from '../ports/metrics.js';

export interface MatchmakingDeps {
  storage: Pick<Storage, 'accounts' | 'chats'>;
  matcher: Matcher;
  random: Random;
  clock: Clock;
  events: EventHub;
  chats: Chats;
  metrics: Metrics;
}

export interface MatchmakingOptions {
  /** A ticket that waits this long is withdrawn. */
  ticketTtlMs: number;
  /** Two users are not paired with each other again for this long after one of them left their chat (0: at once). */
  rematchAfterMs?: number;
}

/** Users a user must not be paired with; moderation adds blocks here. */
export type ExclusionSource = (userHash: UserHash) => Promise<Iterable<UserHash>>;

/** Puts users in the matcher's queue and turns each pair it makes into a chat. */
export class Matchmaking {
  readonly #exclusions: ExclusionSource[] = [];

  constructor(
    private readonly deps: MatchmakingDeps,
    private readonly options: MatchmakingOptions,
  ) {
    this.#exclusions.push((u) => deps.chats.activePeers(u));
    // Awaited by the call that ended the chat, so a "next" right after it already sees it.
    // Only a chat someone left: a block keeps them apart itself (and an unblock means "we
    // may meet again"), a ban or a deletion leaves nobody to meet.
    deps.chats.onEnded(async (chat, reason) => {
      const apartMs = options.rematchAfterMs ?? 0;
      if (apartMs <= 0 || reason !== 'left') return;
      // A nicety, not a safety rule: if the matcher cannot record it, the chat still ends.
      await deps.matcher.keepApart(chat.members[0], chat.members[1], deps.clock.now() + apartMs).catch(() => undefined);
    });
  }

  addExclusionSource(source: ExclusionSource): void {
    this.#exclusions.push(source);
  }

  async excludedFor(userHash: UserHash): Promise<ReadonlySet<UserHash>> {
    const excluded = new Set<UserHash>();
    for (const source of this.#exclusions) for (const u of await source(userHash)) excluded.add(u);
    return excluded;
  }

  async start(session: Session, input: { tolerance: number; interests?: string[] | undefined }) {
    const user = await this.deps.storage.accounts.getUser(session.userHash);
    if (!user) throw new DomainError('UNAUTHORIZED', 'Account no longer exists');
    const ticket = {
      userHash: user.userHash,
      age: user.age,
      tolerance: input.tolerance,
      interests: [...new Set(input.interests ?? [])],
      enqueuedAt: this.deps.clock.now(),
    };
    const pair = await this.deps.matcher.enqueue(ticket, await this.excludedFor(user.userHash));
    const chatId = pair ? await this.#open(pair) : null;
    return { queued: pair === null, chatId };
  }

  cancel(userHash: UserHash): Promise<boolean> {
    return this.deps.matcher.cancel(userHash);
  }

  /** Periodic work: relaxed interest preferences may pair waiting tickets; old tickets expire. */
  async tick(): Promise<void> {
    const now = this.deps.clock.now();
    await this.deps.matcher.expire(now - this.options.ticketTtlMs);
    for (const pair of await this.deps.matcher.sweep(now, (u) => this.excludedFor(u))) await this.#open(pair);
  }

  async #open(pair: MatchPair): Promise<ChatId> {
    const { storage, random, clock, events } = this.deps;
    const [a, b] = [pair.waiting, pair.arriving];
    const [userA, userB] = await Promise.all([storage.accounts.getUser(a.userHash), storage.accounts.getUser(b.userHash)]);
    const chatId = random.chatId();
    if (!userA || !userB) return chatId; // deleted while queued: nothing to open
    const at = clock.now();
    const stored = await storage.chats.createChat(
      {
        chatId,
        members: [a.userHash, b.userHash],
        state: 'active',
        createdAt: at,
        endedAt: null,
        endReason: null,
        lastSeq: 0,
        lastActivityAt: at,
      },
      [
        newEvent(a.userHash, { type: 'match.found', chatId, peer: { userHash: userB.userHash, username: userB.username, age: userB.age }, at }),
        newEvent(b.userHash, { type: 'match.found', chatId, peer: { userHash: userA.userHash, username: userA.username, age: userA.age }, at }),
      ],
    );
    events.announce(stored);
    this.deps.metrics.matchFound([at - a.enqueuedAt, at - b.enqueuedAt]);
    return chatId;
  }
}
