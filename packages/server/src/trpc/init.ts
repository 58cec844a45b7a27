import { initTRPC, TRPCError } from '@trpc/server';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { Core } from '../core/app.js';
import type { Session } from '../core/accounts.js';
import { DomainError } from '../core/domain-error.js';
import { describeError, toTRPCError } from './errors.js';

/** One per WebSocket connection, created from its connectionParams. */
export interface Connection {
  readonly id: number;
  session: Session | null;
  /** Set when the server closes this connection; calls still in its queue are refused. */
  closing: boolean;
  close(code: number, reason: string): void;
  /** Bytes queued on the socket that the peer has not read yet. */
  bufferedBytes(): number;
}

export interface Context {
  core: Core;
  conn: Connection;
  log: Logger;
  inflight: { count: number };
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

/** For procedures that take nothing: anything sent is refused rather than ignored. */
export const noInput = z.undefined();

const base = t.procedure.use(async ({ ctx, next, path }) => {
  ctx.inflight.count++;
  try {
    const result = await next();
    if (!result.ok) {
      const cause = result.error.cause;
      if (cause instanceof DomainError) throw toTRPCError(cause);
      if (result.error.code === 'INTERNAL_SERVER_ERROR') {
        ctx.log.error({ err: result.error.cause ?? result.error, path }, 'procedure failed');
      }
    }
    return result;
  } finally {
    ctx.inflight.count--;
  }
});

export const publicProcedure = base;

export const authedProcedure = base.use(({ ctx, next }) => {
  const session = ctx.conn.session;
  if (!session || ctx.conn.closing) {
    throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in: connect with valid connectionParams' });
  }
  return next({ ctx: { session } });
});
