import type { IncomingMessage, ServerResponse } from 'node:http';

export interface HttpProbes {
  ready(): boolean;
  metrics(): Record<string, number>;
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** Health, readiness and metrics. Everything else is the WebSocket's business (or a 404). */
export function httpHandler(probes: HttpProbes) {
  const startedAt = Date.now();
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') return json(res, 405, { error: 'method not allowed' });
    if (path === '/healthz') {
      return json(res, 200, { status: 'ok', uptimeMs: Date.now() - startedAt });
    }
    if (path === '/readyz') {
      const ready = probes.ready();
      return json(res, ready ? 200 : 503, { status: ready ? 'ready' : 'shutting-down' });
    }
    if (path === '/metrics') {
      const lines = Object.entries(probes.metrics()).map(([k, v]) => `omechat_${k} ${v}`);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      return res.end(lines.join('\n') + '\n');
    }
    return json(res, 404, { error: 'not found' });
  };
}
