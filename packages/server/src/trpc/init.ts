import { initTRPC, TRPCError } from '@trpc/server';
import type { Logger } from 'pino';
import type { Core } from '../core/app.js';
import type { Session } from '../core/accounts.js';
import { DomainError } from '../core/domain-error.js';
import { describeError, toTRPCError } from './errors.js';
import { CLOSE_CODES } from '@omechat/protocol';
import { bannedError, type AdminSession } from '../core/moderation.js';

/** One per WebSocket connection, created from its connectionParams. */
export interface Connection {
  readonly id: number;
  session: Session | null;
  /** Set when the server closes this connection; calls still in its queue are refused. */
  closing: boolean;
  close(code: number, reason: string): void;
  /** Forgets this connection's session (it stays open, signed out). */
  signOut(): void;
  /** Closes this connection once the current reply has left. */
  closeAfterReply(code: number, reason: string): void;
  /** Bytes queued on the socket that the peer has not read yet. */
  bufferedBytes(): number;
  /** Resolves true once fewer than `bytes` are queued, false if the peer stops reading first. */
  drained(bytes: number): Promise<boolean>;
  /** HMAC of the client's /24 or /64 (transport/network.ts); never the address itself. */
  readonly networkKey: string;
  /** `networkKey`, then for IPv6 the keys of its /56 and /48: limits count, and bans match, at each. */
  readonly networkKeys: readonly string[];
  /** Set when the connection presented the admin token instead of a device's credentials. */
  admin: AdminSession | null;
  /**
   * Set when the connectionParams were refused (unknown, revoked or deleted credentials, a
   * wrong admin token, a locked-out network): every call gets this error, then the socket
   * closes with `refusalCloseCode` of it.
   */
  refused: DomainError | null;
}

/** 4001 for credentials that will never work; 4029 for a network locked out for a while. */
export const refusalCloseCode = (error: DomainError) => (error.code === 'RATE_LIMITED' ? CLOSE_CODES.RATE_LIMITED : CLOSE_CODES.UNAUTHORIZED);

/** A connection whose connectionParams were refused answers every call with why, then closes. */
function refuseRefusedParams({ conn }: Context): void {
  if (!conn.refused) return;
  conn.closeAfterReply(refusalCloseCode(conn.refused), conn.refused.code === 'RATE_LIMITED' ? 'rate limited' : 'unauthorized');
  throw toTRPCError(conn.refused);
}

/** One per connection, built once from its connectionParams. */
export interface Context {
  core: Core;
  conn: Connection;
  log: Logger;
  limits: { maxBufferedBytes: number };
}

const t = initTRPC.context<Context>().create({
  isDev: false,
  errorFormatter({ shape, error }) {
    const { message, omechatCode, details } = describeError(error);
    return {
      code: shape.code,
      message,
      data: { code: shape.data.code, httpStatus: shape.data.httpStatus, path: shape.data.path, omechatCode, details },
    };
  },
});

export const router = t.router;

export { noInput } from '@omechat/protocol';

/** Domain errors become tRPC errors here, once, for every procedure. */
async function mapErrors<R extends { ok: boolean; error?: unknown }>(result: R): Promise<R> {
  if (!result.ok && result.error instanceof TRPCError && result.error.cause instanceof DomainError) {
    throw toTRPCError(result.error.cause);
  }
  return result;
}

/**
 * Refuses every call from a banned account, device or network with BANNED (layer and end,
 * nothing else), then closes the socket with 4004. Cheap enough for the message path: the
 * ban cache answers from memory.
 */
async function refuseBanned(ctx: Context): Promise<void> {
  refuseRefusedParams(ctx);
  const { core, conn } = ctx;
  const ban = await core.moderation.banFor({
    networkKeys: conn.networkKeys,
    userHash: conn.session?.userHash,
    clientHash: conn.session?.clientHash,
  });
  if (ban) {
    conn.closeAfterReply(CLOSE_CODES.BANNED, 'banned');
    throw toTRPCError(bannedError(ban));
  }
}

// Each kind of procedure has one middleware, which does all its checks.

export const publicProcedure = t.procedure.use(async ({ ctx, next }) => {
  await refuseBanned(ctx);
  return mapErrors(await next());
});

export const authedProcedure = t.procedure.use(async ({ ctx, next }) => {
  await refuseBanned(ctx);
  const session = ctx.conn.session;
  if (!session || ctx.conn.closing) {
    throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in: connect with valid connectionParams' });
  }
  return mapErrors(await next({ ctx: { session } }));
});

/** Moderator tools: the admin token from config, never a device's credentials. */
export const adminProcedure = t.procedure.use(async ({ ctx, next }) => {
  refuseRefusedParams(ctx);
  if (!ctx.core.moderation.adminEnabled) throw toTRPCError(new DomainError('FORBIDDEN', 'The admin API is disabled on this server'));
  const admin = ctx.conn.admin;
  if (!admin || ctx.conn.closing) throw toTRPCError(new DomainError('UNAUTHORIZED', 'Connect with the admin token'));
  return mapErrors(await next({ ctx: { admin } }));
});
