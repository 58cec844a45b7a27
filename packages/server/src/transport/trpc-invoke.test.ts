import { createHash } from 'node:crypto';
import { callTRPCProcedure, TRPCError } from '@trpc/server';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { PROCEDURES, SECRET_LENGTH, type ChatId, type ClientHash, type MessageId, type ProcedureContract, type UserHash } from '@omechat/protocol';
import { LocalBus } from '../adapters/bus/local-bus.js';
import { MemoryMatcher } from '../adapters/matcher/memory-matcher.js';
import { altchaProofOfWork } from '../adapters/pow/altcha.js';
import { MemoryRateLimiterStore } from '../adapters/rate-limiter/memory-rate-limiter.js';
import { MemoryStorage } from '../adapters/storage/memory/index.js';
import { loadConfig } from '../config.js';
import { moderationOptions, rateLimitRules } from '../compose.js';
import { createCore, type Core } from '../core/app.js';
import type { Clock } from '../ports/clock.js';
import { noMetrics } from '../ports/metrics.js';
import type { Random } from '../ports/random.js';
import type { Connection, Context } from '../trpc/init.js';
import { appRouter } from '../trpc/router.js';
import { invoke } from './trpc-ws.js';

/**
 * The WebSocket adapter calls procedures through invoke(), which reads tRPC's private
 * `router._def.procedures[path]._def.middlewares` and runs the chain itself (it costs less
 * than tRPC's `callTRPCProcedure`). An upgrade of @trpc/server that changes that shape, or
 * what the chain is handed, must fail here rather than in production: every PROCEDURES
 * example runs through both, on two cores built alike (same clock, same minted ids, same
 * order of calls), and the results must be the same.
 */

/** Ids minted from a counter: two cores mint the same ones in the same order. */
function countingRandom(): Random {
  let n = 0;
  const id = (kind: string) => createHash('sha256').update(`${kind}:${++n}`).digest('base64url').slice(0, 22);
  return {
    userHash: () => id('user') as UserHash,
    clientHash: () => id('client') as ClientHash,
    chatId: () => id('chat') as ChatId,
    messageId: () => id('message') as MessageId,
    secret: () => (id('secret') + id('secret') + id('secret')).slice(0, SECRET_LENGTH),
    accessToken: () => createHash('sha256').update(`token:${++n}`).digest('base64url'),
  };
}

const T0 = 1_764_500_000_000;
const clock: Clock = { now: () => T0 };
const config = loadConfig({ OMECHAT_STORAGE: 'memory', OMECHAT_POW_DIFFICULTY: '0', OMECHAT_ADMIN_TOKEN: 'a'.repeat(40) });

function makeCore(): Core {
  return createCore(
    {
      storage: new MemoryStorage(),
      // Deterministic and fast: what is compared is the call path, not argon2.
      hasher: { hash: async (secret) => `hashed:${secret}`, verify: async (hash, secret) => hash === `hashed:${secret}` },
      random: countingRandom(),
      clock,
      bus: new LocalBus(),
      matcher: new MemoryMatcher({ interestRelaxAfterMs: config.OMECHAT_MATCH_INTEREST_RELAX_MS, now: () => clock.now() }),
      rateLimiters: new MemoryRateLimiterStore(),
      proofOfWork: altchaProofOfWork('0'.repeat(64)),
      metrics: noMetrics,
    },
    {
      historyCacheBytes: config.OMECHAT_HISTORY_CACHE_BYTES,
      retentionMs: config.OMECHAT_RETENTION_DAYS * 86_400_000,
      reportRetentionMs: config.OMECHAT_REPORT_RETENTION_DAYS * 86_400_000,
      ticketTtlMs: config.OMECHAT_MATCH_TICKET_TTL_MS,
      tickMs: 0,
      moderation: moderationOptions(config),
      rateLimits: rateLimitRules(config),
      registrationPow: {
        difficulty: 0,
        ttlMs: config.OMECHAT_POW_TTL_SECONDS * 1000,
        hotPerNetwork: config.OMECHAT_POW_HOT_PER_NETWORK,
        hotOverall: config.OMECHAT_POW_HOT_OVERALL,
        hotFactor: config.OMECHAT_POW_HOT_FACTOR,
      },
    },
  );
}

/** A connection signed in as the example's caller (or not signed in, or a moderator). */
function contextFor(core: Core, auth: ProcedureContract['auth'], session: { userHash: UserHash; clientHash: ClientHash }): Context {
  const conn: Connection = {
    id: 1,
    session: auth === 'public' ? null : session,
    closing: false,
    close: () => undefined,
    signOut() {
      conn.session = null;
    },
    closeAfterReply: () => undefined,
    bufferedBytes: () => 0,
    drained: async () => true,
    networkKey: 'n'.repeat(64),
    networkKeys: ['n'.repeat(64)],
    admin: auth === 'admin' ? { moderator: 'mod-anna' } : null,
    refused: null,
  };
  return { core, conn, log: pino({ level: 'silent' }), limits: { maxBufferedBytes: 1 << 20 } };
}

/** What a client would see: the data, or the error's code, message and OmeChat code. */
async function outcome(call: () => Promise<unknown>): Promise<unknown> {
  try {
    const data = await call();
    if (data !== null && typeof data === 'object' && Symbol.asyncIterator in data) {
      await (data as AsyncGenerator).return?.(undefined);
      return { subscription: true };
    }
    return { ok: data };
  } catch (error) {
    if (!(error instanceof TRPCError)) throw error;
    const cause = error.cause as { code?: string } | undefined;
    return { error: error.code, message: error.message, cause: cause?.constructor.name, omechatCode: cause?.code };
  }
}

const examples = Object.entries(PROCEDURES as Record<string, ProcedureContract>);

describe('invoke() and tRPC callTRPCProcedure', () => {
  it('find the private shape invoke() reads on every procedure (else invoke silently falls back)', () => {
    const procedures = appRouter._def.procedures as Record<string, { _def?: { type?: unknown; middlewares?: unknown } }>;
    for (const [path, contract] of examples) {
      const def = procedures[path]?._def;
      expect(def?.type, path).toBe(contract.kind);
      expect(Array.isArray(def?.middlewares), `${path}: _def.middlewares`).toBe(true);
      for (const middleware of def!.middlewares as unknown[]) expect(typeof middleware, path).toBe('function');
    }
  });

  it('give the same result for every PROCEDURES example', async () => {
    const [viaInvoke, viaTrpc] = [makeCore(), makeCore()];
    // The examples' caller is a real account with a device, made the same way in both cores.
    const signUp = async (core: Core) => {
      const none = { userHash: '' as UserHash, clientHash: '' as ClientHash };
      const call = (path: string, input: unknown) =>
        callTRPCProcedure({ router: appRouter, path, getRawInput: async () => input, ctx: contextFor(core, 'public', none), type: 'mutation', signal: new AbortController().signal, batchIndex: 0 });
      const { secret } = (await call('account.register', { username: 'caller_1', age: 30 })) as { secret: string };
      return (await call('account.login', { username: 'caller_1', secret })) as { userHash: UserHash; clientHash: ClientHash };
    };
    const caller = await signUp(viaInvoke);
    expect(await signUp(viaTrpc)).toMatchObject(caller);
    const compared: string[] = [];
    try {
      for (const [path, contract] of examples) {
        const example = contract.example as { input?: unknown } | undefined;
        // The example, then an input its schema refuses (the validator's error must match too).
        for (const input of [example?.input, { notAField: true }]) {
          const signal = new AbortController().signal;
          const mine = await outcome(() => invoke(appRouter, { path, type: contract.kind, ctx: contextFor(viaInvoke, contract.auth, caller), input, signal }));
          const theirs = await outcome(() =>
            callTRPCProcedure({ router: appRouter, path, getRawInput: async () => input, ctx: contextFor(viaTrpc, contract.auth, caller), type: contract.kind, signal, batchIndex: 0 }),
          );
          expect(mine, `${path} ${JSON.stringify(input)}`).toEqual(theirs);
        }
        compared.push(path);
      }
    } finally {
      await Promise.all([viaInvoke.close(), viaTrpc.close()]);
    }
    expect(compared).toEqual(examples.map(([path]) => path));
  });
});
