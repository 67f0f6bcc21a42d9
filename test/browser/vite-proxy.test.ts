// README's dev-server recipe, as a user runs it: an app served by Vite's dev server, importing
// 'realtime-client' by package name (Vite pre-bundles it), connecting to the relative '/realtime',
// which Vite proxies (`server.proxy` with `ws: true`) to the reference server on another port.
// In Chromium, over each of the four transports: the message goes out, is acknowledged, and its
// echo comes back through the proxy.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { createServer as createViteServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealtimeServer } from '../../src/server/index';
import { launchBrowser } from './chromium';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TRANSPORTS = ['websocket', 'sse', 'fetch-stream', 'long-poll'];

const APP = `
import { RealtimeClient } from 'realtime-client';

const transport = new URLSearchParams(location.search).get('transport');
const client = new RealtimeClient('/realtime', { transports: [transport] });
window.result = { errors: [], echo: null, acked: false, transport: null };
client.on('error', (e) => window.result.errors.push(e.message));
client.on('open', (e) => (window.result.transport = e.transport));
client.on('message', (m) => (window.result.echo = m));
client.send('through the dev server').then(() => (window.result.acked = true));
`;

let dir = '';
let http: Server | undefined;
let rt: RealtimeServer | undefined;
let vite: ViteDevServer | undefined;
let browser: Browser | undefined;
let appUrl = '';

beforeAll(async () => {
  http = createHttpServer();
  rt = new RealtimeServer({ server: http, path: '/realtime' });
  rt.on('connection', (session) => session.on('message', (data) => session.send({ echo: data })));
  await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
  const target = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

  dir = mkdtempSync(join(tmpdir(), 'rt-vite-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'realtime-client'), 'dir');
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><title>app</title><script type="module" src="/main.js"></script>',
  );
  writeFileSync(join(dir, 'main.js'), APP);
  vite = await createViteServer({
    root: dir,
    configFile: false,
    logLevel: 'silent',
    cacheDir: join(dir, '.vite'),
    // The recipe from README, with the realtime server's real address.
    server: { host: '127.0.0.1', port: 0, strictPort: false, proxy: { '/realtime': { target, ws: true } } },
  });
  await vite.listen();
  appUrl = `http://127.0.0.1:${(vite.httpServer!.address() as AddressInfo).port}/`;
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await vite?.close();
  await rt?.close();
  await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("README's Vite recipe: server.proxy with ws: true", () => {
  it.each(TRANSPORTS)(
    '%s: the app on the dev server reaches the realtime server through the proxy',
    async (transport) => {
      const page = await browser!.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`${appUrl}?transport=${transport}`);
      await page.waitForFunction(
        () =>
          (window as unknown as { result?: { acked: boolean; echo: unknown } }).result?.acked &&
          (window as unknown as { result: { echo: unknown } }).result.echo,
        undefined,
        {
          timeout: 20_000,
        },
      );
      const result = await page.evaluate(() => (window as unknown as { result: unknown }).result);
      expect(result).toEqual({ errors: [], echo: { echo: 'through the dev server' }, acked: true, transport });
      expect(pageErrors).toEqual([]);
      await page.close();
    },
    40_000,
  );
});
