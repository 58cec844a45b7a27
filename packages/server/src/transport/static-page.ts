import { spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../logger.js';

/** The chat page of this repository (apps/web), built into its dist folder. */
const WEB_APP = fileURLToPath(new URL('../../../../apps/web', import.meta.url));
export const DEFAULT_PAGE_DIR = join(WEB_APP, 'dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

/** Shown while the page is built on first start; it reloads itself. */
const BUILDING = `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="2"><title>OmeChat</title>
<p>OmeChat's page is being built (first start, a few seconds). This page reloads by itself.</p>`;
/** Shown when the page is missing and cannot be built here: waiting would not help. */
const UNAVAILABLE = `<!doctype html><meta charset="utf-8"><title>OmeChat</title>
<p>OmeChat's page is not built on this server, and could not be built here: see the server's log.</p>`;
/** Folders whose build failed or cannot run (set by buildPageIfMissing). */
const unbuildable = new Set<string>();

export interface StaticPage {
  /** Answers GET/HEAD for the page's files; false when the request is not for the page. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

/**
 * Serves the built page from `dir`. Vite names everything under assets/ by its content hash,
 * so those are cached for a year; every other file (index.html above all) is revalidated on
 * each load (ETag), so a new build reaches browsers at once.
 */
export function staticPage(dir: string = DEFAULT_PAGE_DIR): StaticPage {
  const root = normalize(dir + sep);
  return {
    handle(req, res) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      let path: string;
      try {
        path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
      } catch {
        return false;
      }
      if (path === '/') path = '/index.html';
      const file = normalize(join(root, path));
      // Outside the folder (`..`), or a folder itself: not the page's business.
      if (!file.startsWith(root)) return false;
      let stat;
      try {
        stat = statSync(file, { throwIfNoEntry: false });
      } catch {
        return false; // a name the file system refuses (a NUL byte): no such file
      }
      if (!stat?.isFile()) {
        if (path !== '/index.html') return false;
        const building = !unbuildable.has(dir);
        res.writeHead(503, { 'content-type': TYPES['.html']!, 'cache-control': 'no-store', ...(building ? { 'retry-after': '2' } : {}) });
        res.end(req.method === 'HEAD' ? undefined : building ? BUILDING : UNAVAILABLE);
        return true;
      }
      const etag = `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
      const immutable = path.startsWith('/assets/');
      const headers = {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
        etag,
        'x-content-type-options': 'nosniff',
      };
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, headers);
        res.end();
        return true;
      }
      res.writeHead(200, { ...headers, 'content-length': stat.size });
      if (req.method === 'HEAD') res.end();
      else createReadStream(file).on('error', () => res.destroy()).pipe(res);
      return true;
    },
  };
}

/**
 * Builds the page into `dir` if it is missing (a fresh clone's first start), in the
 * background: the server answers at once, with a self-reloading notice until the build is
 * in place. One build at a time across processes (a lock folder); the result is renamed
 * into place whole, so nobody serves half a build.
 */
export function buildPageIfMissing(log: Logger, dir: string = DEFAULT_PAGE_DIR): void {
  if (existsSync(join(dir, 'index.html'))) return;
  const vite = join(WEB_APP, 'node_modules/vite/bin/vite.js');
  if (!existsSync(vite)) {
    unbuildable.add(dir);
    log.warn({ dir }, 'the chat page is not built and cannot be built here (no apps/web with its dependencies): / answers 503');
    return;
  }
  const lock = `${dir}.building`;
  try {
    mkdirSync(dirname(dir), { recursive: true });
    mkdirSync(lock);
  } catch {
    // Another process builds it (or crashed while building: a lock older than 5 minutes is stale).
    const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (age < 5 * 60_000) return;
    rmSync(lock, { recursive: true, force: true });
    return buildPageIfMissing(log, dir);
  }
  const out = join(lock, 'dist');
  log.info('building the chat page (first start)');
  const child = spawn(process.execPath, [vite, 'build', '--logLevel', 'error', '--outDir', out, '--emptyOutDir'], { cwd: WEB_APP, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.once('exit', (code) => {
    try {
      if (code === 0 && !existsSync(join(dir, 'index.html'))) {
        rmSync(dir, { recursive: true, force: true });
        renameSync(out, dir);
        log.info('the chat page is built');
      } else if (code !== 0) {
        unbuildable.add(dir);
        log.error({ code, stderr: stderr.slice(-2000) }, 'building the chat page failed');
      }
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  });
  child.unref();
}
