import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { adminConnectionParamsSchema, CLOSE_CODES, connectionParamsSchema } from '@omechat/protocol';
import type { Config } from '../config.js';
import type { Core } from '../core/app.js';
import type { Logger } from '../logger.js';
import type { Session } from '../core/accounts.js';
import { refusalCloseCode, type Context } from '../trpc/init.js';
import { DomainError } from '../core/domain-error.js';
import { appRouter } from '../trpc/router.js';
import { ConnectionRegistry, SocketConnection } from './connections.js';
import { TrpcWsHandler } from './trpc-ws.js';
import { clientAddress, networkKeyOf, networkPrefixes, proxySet } from './network.js';
import { SocketBudget } from './socket-budget.js';
import type { RateLimitDecision } from '../ports/rate-limiter.js';
import { httpHandler, type HttpProbes } from './http.js';
import type { StaticPage } from './static-page.js';
import { hashToken, tokenMatches } from '../core/tokens.js';
import { dependencyChecks } from './readiness.js';
import { describeAddress } from './address.js';
import { PrometheusMetrics } from '../adapters/metrics/prometheus.js';

export interface RunningServer {
  /** The port actually bound (useful with OMECHAT_PORT=0). */
  port: number;
  /** The address really bound, e.g. `0.0.0.0:8080 (all IPv4 interfaces)`. */
  bound: string;
  /** A URL that reaches the server from this machine. */
  url: string;
  /** The port /metrics is served on when OMECHAT_METRICS_PORT is set (else null: the main port, to the admin token). */
  metricsPort: number | null;
  connections: ConnectionRegistry;
  /** Graceful shutdown: stop accepting, tell clients to reconnect, drain, close storage. */
  close(): Promise<void>;
}

type ServerConfig = Pick<
  Config,
  | 'OMECHAT_HOST'
  | 'OMECHAT_PORT'
  | 'OMECHAT_MAX_PAYLOAD_BYTES'
  | 'OMECHAT_MAX_BUFFERED_BYTES'
  | 'OMECHAT_KEEPALIVE_MS'
  | 'OMECHAT_PONG_WAIT_MS'
  | 'OMECHAT_SHUTDOWN_GRACE_MS'
  | 'OMECHAT_NETWORK_KEY'
  | 'OMECHAT_TRUSTED_PROXIES'
  | 'OMECHAT_MAX_SOCKETS'
  | 'OMECHAT_MAX_SOCKETS_PER_NETWORK'
  | 'OMECHAT_CREDENTIALS_TIMEOUT_MS'
  | 'OMECHAT_MAX_BATCH'
  | 'OMECHAT_MAX_CALLS_IN_FLIGHT'
  | 'OMECHAT_ADMIN_TOKEN'
  | 'OMECHAT_METRICS_PORT'
  | 'OMECHAT_METRICS_HOST'
>;

/** A banned client gets this long to receive a typed BANNED answer before its socket closes. */
const BANNED_GRACE_MS = 1000;
/** Likewise for refused connectionParams (typed UNAUTHORIZED or RATE_LIMITED, then 4001 or 4029). */
const REFUSED_GRACE_MS = BANNED_GRACE_MS;
const CREDENTIALS_REFUSED = 'These credentials are not valid (unknown, revoked or deleted device): sign in again';

/**
 * Listeners that live as long as the socket are made outside the upgrade handler, whose
 * scope also holds the request: a closure made there keeps the whole request (headers and
 * all) alive with the connection.
 */
function destroySocket(this: Duplex): void {
  this.destroy();
}
function releaseOnClose(socket: Duplex, sockets: SocketBudget, networkKeys: string[]): void {
  socket.on('close', () => sockets.release(networkKeys)); // 'close' comes once; once() would cost a wrapper per socket
}

/** Answers an upgrade with a plain HTTP status and frees the socket: no WebSocket is made. */
function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n${status === 503 ? 'Retry-After: 10\r\n' : ''}\r\n`, () => socket.destroy());
}

/** Keeps a refusal of connectionParams on the connection; anything else is a real failure. */
const refusal = (conn: { refused: DomainError | null }) => (err: unknown) => {
  if (!(err instanceof DomainError)) throw err;
  conn.refused = err;
  return null;
};

/** `page`: the chat page to serve at / (main.ts passes it unless OMECHAT_WEB=off). */
export async function startServer(opts: { config: ServerConfig; core: Core; log: Logger; page?: StaticPage | null }): Promise<RunningServer> {
  const { config, core, log } = opts;
  const connections = new ConnectionRegistry(core.deps.bus);
  let accepting = true;
  let nextConnId = 1;

  const probes = (metricsAccess: HttpProbes['metricsAccess'], page: StaticPage | null = null) =>
    httpHandler({
      ready: async () => ({ accepting, checks: await dependencyChecks(core.deps), required: ['database'] }),
      metrics: async () => (exporter ? exporter.scrape() : null),
      metricsAccess,
    }, page);
  // /metrics: on a listener of its own (OMECHAT_METRICS_PORT, for a private interface), or on
  // the main port to the admin token as a bearer token; never to anyone who asks.
  const adminBearer = config.OMECHAT_ADMIN_TOKEN === undefined ? null : hashToken(`Bearer ${config.OMECHAT_ADMIN_TOKEN}`);
  const http = createServer(
    probes((req) =>
      config.OMECHAT_METRICS_PORT !== undefined || adminBearer === null
        ? 'not-here'
        : tokenMatches(adminBearer, req.headers.authorization ?? '')
          ? 'yes'
          : 'unauthorized',
      opts.page ?? null,
    ),
  );
  const metricsHttp = config.OMECHAT_METRICS_PORT === undefined ? null : createServer(probes(() => 'yes'));
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.OMECHAT_MAX_PAYLOAD_BYTES });
  const exporter = core.deps.metrics instanceof PrometheusMetrics ? core.deps.metrics : null;
  exporter?.setSources({ connections: () => wss.clients.size, inflightCalls: () => handler.inflight, waitingTickets: () => core.deps.matcher.size(), figures: () => ({ bus_up: core.deps.bus.connected() ? 1 : 0, sockets_open: sockets.size, ...core.metrics() }) });

  const trustedProxies = proxySet(config.OMECHAT_TRUSTED_PROXIES);
  let networkSecret = config.OMECHAT_NETWORK_KEY;
  if (!networkSecret) {
    networkSecret = randomBytes(32).toString('hex');
    log.warn('OMECHAT_NETWORK_KEY is not set: network keys change, and network bans lapse, when this process restarts');
  }
  const networksOf = (req: IncomingMessage) => networkPrefixes(clientAddress(req, trustedProxies)).map((prefix) => networkKeyOf(networkSecret, prefix));

  // A socket is counted at the HTTP upgrade, before it costs anything but its descriptor:
  // open sockets are capped per network and overall (over the cap: HTTP 503, no upgrade),
  // and each upgrade counts against the network's connection rate, whose verdict the
  // connection's context applies once it knows whether the caller is a moderator.
  const sockets = new SocketBudget({ overall: config.OMECHAT_MAX_SOCKETS, perNetwork: config.OMECHAT_MAX_SOCKETS_PER_NETWORK });
  const upgrades = new WeakMap<IncomingMessage, { networkKeys: string[]; rate: Promise<RateLimitDecision> }>();
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', destroySocket);
    if ((req.url ?? '').split('?')[0] !== '/trpc') return refuseUpgrade(socket, 404, 'Not Found');
    if (!accepting) return refuseUpgrade(socket, 503, 'Service Unavailable');
    const networkKeys = networksOf(req);
    if (!sockets.take(networkKeys)) return refuseUpgrade(socket, 503, 'Service Unavailable');
    releaseOnClose(socket, sockets, networkKeys);
    const rate = core.rateLimits.connection(networkKeys);
    // Awaited by the connection's context, which answers a failure (Redis down, with
    // OMECHAT_RATE_LIMIT_REDIS_DOWN=closed) like any other: not an unhandled rejection meanwhile.
    rate.catch(() => undefined);
    upgrades.set(req, { networkKeys, rate });
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  const signedOut = (conn: SocketConnection, session: Session) => {
    connections.forgetSession(conn); // while conn.session still says where it is registered
    // A ticket lives only while its user is online somewhere.
    if (connections.countForUser(session.userHash) === 0) {
      core.matchmaking.cancel(session.userHash).catch((err: unknown) => log.warn({ err }, 'ticket withdrawal failed'));
    }
  };
  const limits = { maxBufferedBytes: config.OMECHAT_MAX_BUFFERED_BYTES };

  const createContext = async ({ ws, req, connectionParams }: { ws: WebSocket; req: IncomingMessage; connectionParams: unknown }): Promise<Context> => {
    const upgrade = upgrades.get(req)!;
    const conn = new SocketConnection(nextConnId++, upgrade.networkKeys, ws, signedOut);
    // Moderator tools are exempt from the connection limit and from bans, so a network
    // ban never locks out the moderator who must lift it.
    const adminParams = adminConnectionParamsSchema.safeParse(connectionParams);
    if (adminParams.success) conn.admin = await core.moderation.authenticateAdmin(adminParams.data, conn.networkKey).catch(refusal(conn));
    if (!conn.admin && !(await upgrade.rate).allowed) {
      conn.close(CLOSE_CODES.RATE_LIMITED, 'too many connections');
    } else {
      const params = connectionParamsSchema.safeParse(connectionParams);
      if (params.success) conn.session = await core.accounts.authenticate(params.data);
      const presented = connectionParams !== null && connectionParams !== undefined;
      if (presented && !conn.session && !adminParams.success) conn.refused = new DomainError('UNAUTHORIZED', CREDENTIALS_REFUSED);
      if (conn.refused) setTimeout(() => conn.refused && conn.close(refusalCloseCode(conn.refused), 'refused'), REFUSED_GRACE_MS);
      const ban = conn.admin ? null : await core.moderation.banFor({ networkKeys: conn.networkKeys, ...conn.session });
      if (ban) setTimeout(() => conn.close(CLOSE_CODES.BANNED, 'banned'), BANNED_GRACE_MS);
      else if (conn.session) {
        // A hint for moderators (which networks a device used); not worth holding the connect for.
        core.moderation.seen(conn.session, conn.networkKeys).catch((err: unknown) => log.warn({ err }, 'sighting not recorded'));
      }
    }
    if (!accepting) conn.close(CLOSE_CODES.SERVER_SHUTDOWN, 'server shutting down');
    connections.add(conn);
    log.debug(
      { conn: conn.id, clientHash: conn.session?.clientHash, authenticated: conn.session !== null, admin: conn.admin !== null },
      'connection ready',
    );
    return { core, conn, log, limits };
  };

  const handler: TrpcWsHandler<Context> = new TrpcWsHandler(wss, {
    router: appRouter,
    createContext,
    onClose: ({ conn }) => {
      conn.signOut();
      connections.remove(conn); // signed in or not: a network ban still finds it until it closes
    },
    keepAlive: { pingMs: config.OMECHAT_KEEPALIVE_MS, pongWaitMs: config.OMECHAT_PONG_WAIT_MS },
    limits: {
      credentialsTimeoutMs: config.OMECHAT_CREDENTIALS_TIMEOUT_MS,
      maxBatch: config.OMECHAT_MAX_BATCH,
      maxCallsInFlight: config.OMECHAT_MAX_CALLS_IN_FLIGHT,
      maxBufferedBytes: config.OMECHAT_MAX_BUFFERED_BYTES,
      maxSubscriptions: 1,
    },
    onError: ({ error, path }) => {
      // A frame over the size limit or a broken frame is the client's fault, not the server's:
      // one debug line (its socket is closed for it), so no client can flood the error log.
      const wsError = (error.cause as { code?: unknown } | undefined)?.code;
      if (typeof wsError === 'string' && wsError.startsWith('WS_ERR_')) return log.debug({ code: wsError }, 'client broke the WebSocket protocol');
      if (error.code === 'INTERNAL_SERVER_ERROR') log.error({ err: error.cause ?? error, path }, 'unhandled error');
    },
  });
  wss.on('error', (err) => log.error({ err }, 'websocket server error'));

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.OMECHAT_PORT, config.OMECHAT_HOST, () => resolve());
  });
  const { port, bound, url } = describeAddress(http.address() as AddressInfo);
  log.info({ port, bound }, 'omechat listening');
  let metricsPort: number | null = null;
  if (metricsHttp) {
    await new Promise<void>((resolve, reject) => {
      metricsHttp.once('error', reject);
      metricsHttp.listen(config.OMECHAT_METRICS_PORT, config.OMECHAT_METRICS_HOST, () => resolve());
    });
    metricsPort = (metricsHttp.address() as AddressInfo).port;
    log.info({ port: metricsPort, host: config.OMECHAT_METRICS_HOST }, 'metrics listening');
  }

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      accepting = false;
      log.info({ connections: connections.size }, 'shutting down');
      handler.broadcastReconnectNotification();
      // Let calls already running finish their writes so every acked write is durable.
      const deadline = Date.now() + config.OMECHAT_SHUTDOWN_GRACE_MS;
      while (handler.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      for (const ws of wss.clients) ws.close(CLOSE_CODES.SERVER_SHUTDOWN, 'server shutting down');
      const closeDeadline = Date.now() + 1000;
      while (wss.clients.size > 0 && Date.now() < closeDeadline) await new Promise((r) => setTimeout(r, 10));
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      if (metricsHttp) {
        metricsHttp.closeAllConnections();
        await new Promise<void>((resolve) => metricsHttp.close(() => resolve()));
      }
      connections.dispose();
      handler.close();
      await core.close();
      log.info('shut down cleanly');
    })());

  return { port, bound, url, metricsPort, connections, close };
}
