import type { IncomingMessage, ServerResponse } from 'node:http';
import { PROTOCOL_VERSION } from '@omechat/protocol';
import type { StaticPage } from './static-page.js';

export interface Readiness {
  /** False once shutdown has begun. */
  accepting: boolean;
  /** Every dependency, up or not. */
  checks: Record<string, boolean>;
  /** Dependencies whose outage stops this node from serving (the others only degrade it). */
  required: readonly string[];
}

export interface HttpProbes {
  ready(): Promise<Readiness>;
  /** The Prometheus exposition, or null when this server exports none. */
  metrics(): Promise<{ contentType: string; body: string } | null>;
  /**
   * Whether this request may read /metrics: 'yes', 'unauthorized' (a bearer token is needed)
   * or 'not-here' (served on another listener, or not at all).
   */
  metricsAccess(req: IncomingMessage): 'yes' | 'unauthorized' | 'not-here';
}

/**
 * 200 `ready`, or 200 `degraded` when only an optional dependency is down (the Redis bus:
 * local chats go on, so the load balancer should keep sending users), or 503 with
 * `shutting-down` or `unavailable` (the database is down). Each check is listed as up/down.
 */
function readinessBody({ accepting, checks, required }: Readiness) {
  const down = Object.keys(checks).filter((name) => !checks[name]);
  const status = !accepting ? 'shutting-down' : down.some((name) => required.includes(name)) ? 'unavailable' : down.length > 0 ? 'degraded' : 'ready';
  const body: Record<string, string> = { status };
  for (const [name, up] of Object.entries(checks)) body[name] = up ? 'up' : 'down';
  return { code: status === 'ready' || status === 'degraded' ? 200 : 503, body };
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** Health, readiness, metrics and the chat page (when given). Everything else is the WebSocket's business (or a 404). */
export function httpHandler(probes: HttpProbes, page: StaticPage | null = null) {
  const startedAt = Date.now();
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (page && path !== '/healthz' && path !== '/readyz' && path !== '/metrics' && page.handle(req, res)) return;
    if (req.method !== 'GET') return json(res, 405, { error: 'method not allowed' });
    if (path === '/healthz') {
      return json(res, 200, { status: 'ok', protocol: PROTOCOL_VERSION, uptimeMs: Date.now() - startedAt });
    }
    if (path === '/readyz') {
      return void probes.ready().then(
        (readiness) => {
          const { code, body } = readinessBody(readiness);
          json(res, code, body);
        },
        () => json(res, 503, { status: 'unavailable' }),
      );
    }
    if (path === '/metrics') {
      // Waiting tickets and connection counts are a map of the service for an attacker.
      const access = probes.metricsAccess(req);
      if (access === 'not-here') return json(res, 404, { error: 'not found' });
      if (access === 'unauthorized') {
        res.setHeader('www-authenticate', 'Bearer realm="omechat-metrics"');
        return json(res, 401, { error: 'metrics need the admin token as a bearer token' });
      }
      return void probes.metrics().then(
        (scraped) => {
          if (!scraped) return json(res, 404, { error: 'not found' });
          res.writeHead(200, { 'content-type': scraped.contentType, 'cache-control': 'no-store' });
          res.end(scraped.body);
        },
        () => json(res, 500, { error: 'metrics unavailable' }),
      );
    }
    return json(res, 404, { error: 'not found' });
  };
}
