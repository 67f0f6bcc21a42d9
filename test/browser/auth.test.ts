// The token of the `auth` option in real Chromium, on the built bundle, with the realtime server
// on another origin than the page: over SSE, fetch-stream and long-poll it travels as
// `Authorization: Bearer` on the POST carrying hello, which makes that POST a non-simple CORS
// request, so the browser asks the server's permission (preflight) first and the server must
// grant the header. Over WebSocket it travels in hello. Never in a URL.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './chromium';
import {
  expectClean,
  newPage,
  pageSummary,
  pageUrl,
  serveStaticBeside,
  startFixture,
  TRANSPORTS,
  waitOpen,
  waitUntil,
  type Fixture,
} from './harness';
import type { StaticServer } from './static-server';

const TOKEN = 'browser-Tok3n.secret_42';

let browser: Browser;
let fx: Fixture;
let statics: StaticServer;
/** Tokens authenticate() received, and every request the realtime server got. */
const tokens: Array<string | undefined> = [];
const requests: Array<{
  method: string;
  url: string;
  authorization?: string;
  requestHeaders?: string;
  origin?: string;
}> = [];
let pageOrigin = '';

beforeAll(async () => {
  fx = await startFixture({
    rt: {
      authenticate: (token) => {
        tokens.push(token);
        return token === TOKEN;
      },
      // Only the page's origin: the test would fail if the page were same-origin by mistake.
      allowedOrigins: (origin) => origin === pageOrigin,
    },
  });
  // Added after the RealtimeServer, so it sees every request without answering any.
  fx.http.server.on('request', (req) =>
    requests.push({
      method: req.method!,
      url: req.url!,
      authorization: req.headers.authorization,
      requestHeaders: req.headers['access-control-request-headers'],
      origin: req.headers.origin,
    }),
  );
  fx.http.server.prependListener('upgrade', (req) =>
    requests.push({
      method: 'UPGRADE',
      url: req.url!,
      authorization: req.headers.authorization,
      origin: req.headers.origin,
    }),
  );
  statics = await serveStaticBeside(Number(new URL(fx.http.url).port));
  pageOrigin = new URL(statics.url).origin;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await statics?.close();
  await fx?.close();
});

describe.each(TRANSPORTS)('cross-origin auth over %s', (transport) => {
  it(`the token reaches authenticate (${transport === 'websocket' ? 'in hello' : 'Authorization header, after a preflight'}), never in a URL`, async (t) => {
    const p = await newPage(browser, t.onTestFinished);
    tokens.length = requests.length = 0;
    const response = await p.page.goto(
      pageUrl(statics.url, { transport, url: `${fx.http.url}/realtime`, auto: false }),
    );
    expect(response?.status()).toBe(200);
    await waitUntil(p, () => !!window.T?.lib, undefined, 'the page loaded the library');
    await p.page.evaluate((token) => void window.T.start({ auth: () => token }), TOKEN);
    await waitOpen(p);
    expect(tokens, await pageSummary(p)).toEqual([TOKEN]);
    expect(await p.page.evaluate(() => window.T.rtErrors)).toEqual([]);
    for (const r of requests) expect(r.url).not.toContain(TOKEN);
    const withToken = requests.filter((r) => r.authorization !== undefined);
    if (transport === 'websocket') {
      expect(withToken).toEqual([]);
      expect(requests.map((r) => r.method)).toEqual(['UPGRADE']);
    } else {
      expect(withToken.map((r) => [r.method, r.authorization, r.origin])).toEqual([
        ['POST', `Bearer ${TOKEN}`, pageOrigin],
      ]);
      // The browser asked first, for that same URL, and the server allowed the header.
      const preflight = requests.find((r) => r.method === 'OPTIONS' && r.url === withToken[0]!.url);
      expect(preflight?.requestHeaders?.toLowerCase()).toContain('authorization');
    }
    await expectClean(p);
  });
});
