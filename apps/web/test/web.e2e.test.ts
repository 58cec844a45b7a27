import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoreFromConfig, createLogger, loadConfig, startServer, type RunningServer } from '@omechat/server';
import { keyStoreCases, messageStoreCases } from '@omechat/sdk/testing';

/**
 * The page as people use it: built with Vite, served by `vite preview`, in Debian's
 * Chromium (no browser download), against a real server. Screenshots go to artifacts/.
 */
const root = join(import.meta.dirname, '..');
const artifacts = join(root, 'artifacts');
let server: RunningServer;
let site: PreviewServer;
/** A page that runs the SDK's store contracts against IndexedDB (test/stores). */
let storesSite: PreviewServer;
let browser: Browser;
let dataDir: string;

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), 'omechat-web-'));
  const config = loadConfig({ OMECHAT_HOST: '127.0.0.1', OMECHAT_PORT: '0', OMECHAT_DATA_DIR: dataDir, OMECHAT_LOG_LEVEL: 'silent', OMECHAT_RATE_LIMIT_STORE: 'off' });
  const log = createLogger('silent');
  server = await startServer({ config, core: await createCoreFromConfig(config, log), log });
  await build({ root, logLevel: 'error' });
  site = await preview({ root, logLevel: 'error', preview: { port: 0, host: '127.0.0.1' } });
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
  await site?.close();
  await storesSite?.close();
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const pageUrl = () => `${site.resolvedUrls!.local[0]}?server=${encodeURIComponent(server.url)}`;

async function person(name: string, viewport = { width: 1000, height: 800 }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`[${name}] page error:`, error));
  await page.goto(pageUrl());
  await page.fill('#register input[name=username]', name);
  await page.fill('#register input[name=age]', '25');
  await page.click('#register button');
  await page.locator('#secret-value', { hasText: /\S{64}/ }).waitFor();
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

  it('two people register, match, talk both ways with receipts, and still see their history after a reload', async () => {
    const ann = await person(`ann_${process.pid}`);
    // Ben is on a phone-sized screen.
    const ben = await person(`ben_${process.pid}`, { width: 375, height: 740 });

    await ann.page.fill('#search input[name=interests]', 'music');
    await ann.page.click('#search-start');
    await ann.page.locator('#searching').waitFor();
    await ben.page.click('#search-start');
    await ann.page.locator('#peer', { hasText: `ben_${process.pid}, 25` }).waitFor();
    await ben.page.locator('#peer', { hasText: `ann_${process.pid}, 25` }).waitFor();

    await say(ann.page, 'hi ben, from a browser');
    await ben.page.locator('#messages li.theirs', { hasText: 'hi ben, from a browser' }).waitFor();
    await ann.page.locator('#messages li.own .mark', { hasText: '✓✓ read' }).waitFor();
    await ben.page.fill('#compose input', 'typing');
    await ann.page.locator('#typing', { hasText: `ben_${process.pid} is typing…` }).waitFor();
    await say(ben.page, 'hi ann, from a phone');
    await ann.page.locator('#messages li.theirs', { hasText: 'hi ann, from a phone' }).waitFor();

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
    await ben.page.screenshot({ path: join(artifacts, 'ben-phone-after-reload.png') });

    // Leaving ends the chat on both sides.
    await ann.page.click('#leave');
    await ben.page.locator('#ended', { hasText: 'The chat has ended.' }).waitFor();
    await Promise.all([ann.context.close(), ben.context.close()]);
  });
});
