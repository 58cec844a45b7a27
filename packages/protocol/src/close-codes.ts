/**
 * WebSocket close codes the server uses, shared with the SDK so it knows whether to
 * reconnect. 4000-4999 is the range RFC 6455 leaves to applications.
 */
export const CLOSE_CODES = {
  /** The server is shutting down or restarting: reconnect with backoff and resume. */
  SERVER_SHUTDOWN: 4000,
  /** connectionParams were present but invalid: do not reconnect with them. */
  UNAUTHORIZED: 4001,
  /**
   * The client broke the protocol: a frame that is not a tRPC request, a batch longer than the
   * server allows, or no connectionParams in time. A client bug: reconnecting may work, the
   * same frames will not.
   */
  PROTOCOL_ERROR: 4002,
  /** This device was revoked (by the user or because the account was deleted). */
  SESSION_REVOKED: 4003,
  /** A ban applies to this account, device or network. */
  BANNED: 4004,
  /** The client did not read its socket; reconnect and resume from lastEventId. */
  SLOW_CONSUMER: 4008,
  /** Too many connections from this network or device. */
  RATE_LIMITED: 4029,
} as const;
export type CloseCodeName = keyof typeof CLOSE_CODES;

export const CLOSE_CODE_DESCRIPTIONS: Record<CloseCodeName, string> = {
  SERVER_SHUTDOWN: 'The server is shutting down or restarting: reconnect with backoff and resubscribe with `lastEventId`.',
  UNAUTHORIZED: 'connectionParams were present but invalid: do not reconnect with them.',
  PROTOCOL_ERROR: 'The client sent a frame that is not a tRPC request, a batch longer than the server allows (`OMECHAT_MAX_BATCH`), or no connectionParams within `OMECHAT_CREDENTIALS_TIMEOUT_MS`: a client bug.',
  SESSION_REVOKED: 'This device was revoked (by the user, or the account was deleted): sign in again as a new device.',
  BANNED: 'A ban applies to this account, device or network.',
  SLOW_CONSUMER: 'The client did not read its socket: reconnect and resume from `lastEventId`.',
  RATE_LIMITED: 'Too many new connections from this network, or its sign-ins are locked out: reconnect later.',
};

/** Close codes after which reconnecting with the same credentials cannot succeed. */
export const TERMINAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CLOSE_CODES.UNAUTHORIZED,
  CLOSE_CODES.SESSION_REVOKED,
  CLOSE_CODES.BANNED,
]);

export function closeCodeName(code: number): CloseCodeName | undefined {
  return (Object.keys(CLOSE_CODES) as CloseCodeName[]).find((k) => CLOSE_CODES[k] === code);
}
