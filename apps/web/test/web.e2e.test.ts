import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { build, createLogger as createViteLogger, preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '@omechat/server/testing';
import { keyStoreCases, messageStoreCases } from '@omechat/sdk/testing';

/**
 * The page as people use it: built with Vite, served by the OmeChat server itself (as
 * `omechat-server serve` does), in Debian's Chromium (no browser download). Screenshots go
 * to artifacts/.
 */
const root = join(import.meta.dirname, '..');
const artifacts = join(root, 'artifacts');
let server: TestServer;
/** A page that runs the SDK's store contracts against IndexedDB (test/stores). */
let storesSite: PreviewServer;
let browser: Browser;
let dataDir: string;
let pageDir: string;
/** What Vite warned about while building the page. */
const buildWarnings: string[] = [];

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), 'omechat-web-'));
  // Built as the server's first start builds it, into a folder of the test's own (a server
  // started elsewhere meanwhile may be building apps/web/dist).
  pageDir = join(dataDir, 'page');
  const logger = createViteLogger('warn');
  logger.warn = logger.warnOnce = (message) => void buildWarnings.push(message);
  await build({ root, customLogger: logger, build: { outDir: pageDir, emptyOutDir: true } });
  // A tenth of the default proof-of-work: still seconds of progress to show on a loaded machine, not a minute.
  server = await startTestServer({ OMECHAT_POW_DIFFICULTY: '400', OMECHAT_WEB: 'on', OMECHAT_WEB_DIR: pageDir }, dataDir);
  const stores = { root: join(root, 'test/stores'), logLevel: 'error' as const, build: { outDir: join(dataDir, 'stores-page'), emptyOutDir: true } };
  await build(stores);
  storesSite = await preview({ ...stores, preview: { port: 0, host: '127.0.0.1' } });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    // playwright gives each launch a fresh, temporary --user-data-dir of its own.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  await storesSite?.close();
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The server's own address: no ?server=, the page talks to whoever served it. */
const pageUrl = () => server.url.replace(/^ws/, 'http').replace(/\/trpc$/, '/');

async function person(name: string, viewport = { width: 1000, height: 800 }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport });
  // Every state the registration status showed, with whether the button was disabled then:
  // recorded in the page, since a lucky proof-of-work can be over before a poll sees it.
  await context.addInitScript(() => {
    const seen: string[] = [];
    Object.assign(window, { registerSeen: seen });
    new MutationObserver(() => {
      const status = document.querySelector<HTMLElement>('#register-status');
      const button = document.querySelector<HTMLButtonElement>('#register button');
      if (status && button && !status.hidden) seen.push(`${button.disabled ? 'disabled' : 'enabled'}: ${status.textContent?.trim()}`);
    }).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
  });
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`[${name}] page error:`, error));
  await page.goto(pageUrl());
  await page.fill('#register input[name=username]', name);
  await page.fill('#register input[name=age]', '25');
  await page.click('#register button');
  await page.locator('#secret-value', { hasText: /\S{64}/ }).waitFor();
  const seen = await page.evaluate(() => (window as unknown as { registerSeen: string[] }).registerSeen);
  expect(seen.length).toBeGreaterThan(0);
  for (const state of seen) expect(state).toMatch(/^disabled: Creating your account… \d+%$/);
  const secret = await page.locator('#secret-value').textContent();
  expect(secret).toMatch(/^[A-Za-z0-9_-]{64}$/);
  await expect.poll(() => page.locator('#secret .warning').textContent()).toContain('shown only once');
  await page.click('#secret-done');
  await page.locator('#connection[data-state=connected]').waitFor();
  expect(await page.locator('#me').textContent()).toBe(name);
  return { context, page };
}

async function say(page: Page, text: string) {
  await page.fill('#compose input', text);
  await page.press('#compose input', 'Enter');
}

const bubbles = (page: Page) => page.locator('#messages li').allTextContents();

describe('the chat page in Chromium', () => {
  it('is served by the server itself, with content types and caching headers', async () => {
    const index = await fetch(pageUrl());
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const html = await index.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    const style = /href="(\/assets\/[^"]+\.css)"/.exec(html)?.[1];
    expect(script && style).toBeTruthy();
    const js = await fetch(new URL(script!, pageUrl()));
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await fetch(new URL(style!, pageUrl()))).headers.get('content-type')).toBe('text/css; charset=utf-8');
    // Revalidation: an unchanged page costs a 304.
    const again = await fetch(pageUrl(), { headers: { 'if-none-match': index.headers.get('etag')! } });
    expect(again.status).toBe(304);
    // The icon is inline, so the browser asks for no /favicon.ico (which would 404).
    expect(html).toMatch(/<link rel="icon" href="data:image\/svg\+xml,/);
    // The probes are still the server's, and nothing outside the page's folder is served.
    expect((await fetch(new URL('/healthz', pageUrl()))).headers.get('content-type')).toBe('application/json');
    expect((await fetch(new URL('/assets/..%2f..%2fpackage.json', pageUrl()))).status).toBe(404);
    expect((await fetch(new URL('/%00', pageUrl()))).status).toBe(404);
  });

  it("is built for the browser only: no Node built-in, no Node worker, no warning", () => {
    expect(buildWarnings).toEqual([]);
    const assets = readdirSync(join(pageDir, 'assets'));
    expect(assets.filter((f) => f.includes('node-worker') || readFileSync(join(pageDir, 'assets', f), 'utf8').includes('worker_threads'))).toEqual([]);
    expect(assets.some((f) => f.startsWith('web-worker'))).toBe(true);
  });

  it('shows a wrong secret as a visible error on the sign-in screen', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(pageUrl());
    await page.fill('#login input[name=username]', `nobody_${process.pid}`);
    await page.fill('#login input[name=secret]', 'x'.repeat(64));
    await page.click('#login button');
    const error = page.locator('#notice[data-kind=error]');
    await error.waitFor({ state: 'visible' });
    expect(await error.textContent()).toMatch(/\S/);
    expect(await page.locator('#signed-out').isVisible()).toBe(true);
    await page.locator('#login button:enabled').waitFor();
    await context.close();
  });

  it('says so on the sign-in screen when the server cannot be reached', async () => {
    // A server of its own, stopped once the page is loaded from it.
    const doomed = await startTestServer({ OMECHAT_STORAGE: 'memory', OMECHAT_WEB: 'on', OMECHAT_WEB_DIR: pageDir });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(doomed.url.replace(/^ws/, 'http').replace(/\/trpc$/, '/'));
    await page.locator('#login button').waitFor();
    await doomed.destroy();
    await page.fill('#login input[name=username]', `nobody_${process.pid}`);
    await page.fill('#login input[name=secret]', 'x'.repeat(64));
    await page.click('#login button');
    await page.locator('#notice[data-kind=error]', { hasText: /cannot (be )?reach/i }).waitFor({ state: 'visible' });
    await context.close();
  });

  it("passes the SDK's store contracts with IndexedDbMessageStore and IndexedDbKeyStore", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(storesSite.resolvedUrls!.local[0]!);
    await page.locator('#results', { hasText: '[' }).waitFor();
    const results = JSON.parse((await page.locator('#results').textContent())!);
    expect(results).toEqual([
      ...messageStoreCases.map((c) => ({ name: `MessageStore: ${c.name}`, error: null })),
      ...keyStoreCases.map((c) => ({ name: `KeyStore: ${c.name}`, error: null })),
    ]);
    await context.close();
  });

  it('two people register, match, talk both ways with receipts, are warned of a key change, and still see history, receipts and who left after a reload', async () => {
    const ann = await person(`ann_${process.pid}`);
    // Ben is on a phone-sized screen.
    const ben = await person(`ben_${process.pid}`, { width: 375, height: 740 });

    await ann.page.fill('#search input[name=interests]', 'music');
    await ann.page.click('#search-start');
    await ann.page.locator('#searching').waitFor();
    await ben.page.click('#search-start');
    await ann.page.locator('#peer', { hasText: `ben_${process.pid}, 25` }).waitFor();
    await ben.page.locator('#peer', { hasText: `ann_${process.pid}, 25` }).waitFor();
    // On the phone, the conversation comes before the search form, and the line to type in
    // is on screen without scrolling.
    const top = async (selector: string) => (await ben.page.locator(selector).boundingBox())!.y;
    expect(await top('#chat')).toBeLessThan(await top('#search'));
    const composerOnScreen = async () => {
      await ben.page.evaluate(() => window.scrollTo(0, 0));
      const box = (await ben.page.locator('#compose input').boundingBox())!;
      return box.y >= 0 && box.y + box.height <= 740;
    };
    expect(await composerOnScreen()).toBe(true);

    await say(ann.page, 'hi ben, from a browser');
    await ben.page.locator('#messages li.theirs', { hasText: 'hi ben, from a browser' }).waitFor();
    await ann.page.locator('#messages li.own .mark', { hasText: '✓✓ read' }).waitFor();
    await ben.page.fill('#compose input', 'typing');
    await ann.page.locator('#typing', { hasText: `ben_${process.pid} is typing…` }).waitFor();
    await say(ben.page, 'hi ann, from a phone');
    await ann.page.locator('#messages li.theirs', { hasText: 'hi ann, from a phone' }).waitFor();
    expect(await composerOnScreen()).toBe(true);

    await ann.page.click('#safety');
    await ben.page.click('#safety');
    const codeOf = async (page: Page) => (await page.locator('#safety-code').textContent())!.match(/[\d ]{20,}\d/)![0];
    await expect.poll(() => codeOf(ben.page).catch(() => '')).toBe(await codeOf(ann.page));
    await ann.page.screenshot({ path: join(artifacts, 'ann-desktop.png') });
    await ben.page.screenshot({ path: join(artifacts, 'ben-phone.png') });

    for (const { page } of [ann, ben]) {
      await page.reload();
      await page.locator('#connection[data-state=connected]').waitFor();
      await page.locator('#messages li', { hasText: 'hi ann, from a phone' }).waitFor();
      expect((await bubbles(page)).map((b) => b.replace(/\d\d:\d\d.*$/, ''))).toEqual(['hi ben, from a browser', 'hi ann, from a phone']);
    }
    // The receipts come back with the messages: the device stored them.
    expect(await ann.page.locator('#messages li.own .mark').allTextContents()).toEqual(['✓✓ read']);

    // Ben "reinstalls": his device's keys are gone, his session is not. Ann's page warns
    // beside the safety code when his next message shows the new identity key.
    await ben.page.evaluate(
      () =>
        new Promise((done, fail) => {
          const open = indexedDB.open('omechat');
          open.onerror = () => fail(new Error(String(open.error)));
          open.onsuccess = () => {
            const tx = open.result.transaction('e2e-state', 'readwrite');
            tx.objectStore('e2e-state').delete('device');
            tx.oncomplete = () => done(open.result.close());
            tx.onerror = () => fail(new Error(String(tx.error)));
          };
        }),
    );
    await ben.page.reload();
    await ben.page.locator('#connection[data-state=connected]').waitFor();
    await say(ben.page, 'new keys, same ben');
    await ann.page.locator('#messages li.theirs', { hasText: 'new keys, same ben' }).waitFor();
    await ann.page.locator('#key-warning', { hasText: 'key changed' }).waitFor();
    await ben.page.screenshot({ path: join(artifacts, 'ben-phone-after-reload.png') });

    // Leaving ends the chat on both sides, saying who left (before and after a reload): it
    // can be read (and reported), nothing else, and "Say hi!" goes with it.
    await ann.page.click('#leave');
    const endedAs = [
      { ...ann, text: 'You left the chat.' },
      { ...ben, text: `ann_${process.pid} left the chat.` },
    ];
    for (const { page, text } of endedAs) {
      await page.locator('#ended', { hasText: text }).waitFor();
      for (const control of ['#compose input', '#compose button', '#next', '#leave', '#block', '#safety']) {
        await page.locator(`${control}:disabled`).waitFor();
      }
      await page.locator('#notice', { hasText: 'Say hi' }).waitFor({ state: 'hidden' });
      expect(await page.locator('#report-reason:enabled').count()).toBe(1);
    }
    for (const { page, text } of endedAs) {
      await page.reload();
      await page.locator('#messages li', { hasText: 'hi ann, from a phone' }).waitFor();
      expect(await page.locator('#ended').textContent()).toBe(text);
      expect(await page.locator('#chats button.ended[aria-current=true]').getAttribute('title')).toBe(text);
      await page.locator('#compose input:disabled').waitFor();
    }
    await ben.page.screenshot({ path: join(artifacts, 'ben-phone-ended.png') });
    await Promise.all([ann.context.close(), ben.context.close()]);
  });
});
