// Shared pieces of the browser suite: the built reference server beside the static server,
// pages opened with their logs captured, waits that explain themselves when they time out,
// and the "page stayed clean" check (no page errors, no CSP violations).
//
// Pages (test/browser/pages/rt-*.html) record everything in window.T (see rt-page.js); app
// messages are { pid, tag, i }, echoed by the server as { echo: data }; server pushes are
// { push: tag, i }. Control messages { pid, ctl } are not echoed: 'reg' registers the page's
// session, 'drop' drops its connection (the client resumes).
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expect } from 'vitest';
import { waitFor } from '../wait';
import type * as ServerModule from '../../src/server/index';
import type { RealtimeServerOptions } from '../../src/server/index';
import { serveStatic, type StaticServer, type StaticServerOptions } from './static-server';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const TRANSPORTS = ['websocket', 'sse', 'fetch-stream', 'long-poll'] as const;
export type TransportName = (typeof TRANSPORTS)[number];

type Session = InstanceType<typeof ServerModule.Session>;
type RealtimeServer = InstanceType<typeof ServerModule.RealtimeServer>;

/** Throws unless the bundles the pages load exist (the suite tests the build, as users get it). */
export function requireBuild(): void {
  for (const file of ['dist/realtime.min.js', 'dist/index.js', 'dist/server.js']) {
    if (!existsSync(`${root}/${file}`)) throw new Error(`${file} is missing: run \`npm run build\` first`);
  }
}

/** The built server (dist/server.js), typed by its source. */
export async function loadServerModule(): Promise<typeof ServerModule> {
  requireBuild();
  const url = new URL('../../dist/server.js', import.meta.url).href;
  return (await import(/* @vite-ignore */ url)) as typeof ServerModule;
}

export interface Received {
  pid: string;
  tag: string;
  i: number;
  sid: string;
}

/** The static server with the built RealtimeServer on the same port, echoing app messages. */
export interface Fixture {
  http: StaticServer;
  rt: RealtimeServer;
  /** Every app message the server got, in order of receipt. */
  received: Received[];
  /** The latest session of each page, by pid (set by the page's { ctl: 'reg' }). */
  sessions: Map<string, Session>;
  /** WebSocket upgrade requests seen on /realtime. */
  upgrades: number;
  /** Server-side errors (application listener errors, send() failures). */
  errors: string[];
  /** The `i`s the server got from page `pid` with `tag`, in order of receipt. */
  got(pid: string, tag: string): number[];
  /** Pushes { push: tag, i } for i in [from, from + n) to page `pid`'s current session. */
  push(pid: string, tag: string, n: number, from?: number): void;
  close(): Promise<void>;
}

export async function startFixture(
  options: { rt?: RealtimeServerOptions; static?: Partial<StaticServerOptions> } = {},
): Promise<Fixture> {
  const { RealtimeServer } = await loadServerModule();
  const http = await serveStatic({
    root,
    csp: true,
    routes: (_req, res, url) => {
      if (url.pathname !== '/favicon.ico') return false;
      res.writeHead(204).end();
      return true;
    },
    ...options.static,
  });
  const rt = new RealtimeServer({ server: http.server, path: '/realtime', ...options.rt });
  const fx: Fixture = {
    http,
    rt,
    received: [],
    sessions: new Map(),
    upgrades: 0,
    errors: [],
    got: (pid, tag) => fx.received.filter((r) => r.pid === pid && r.tag === tag).map((r) => r.i),
    push(pid, tag, n, from = 0) {
      const session = fx.sessions.get(pid);
      if (!session) throw new Error(`no session registered for page ${pid}`);
      for (let i = from; i < from + n; i++) session.send({ push: tag, i });
    },
    close: async () => {
      await rt.close();
      await http.close();
    },
  };
  http.server.prependListener('upgrade', (req) => {
    if ((req.url ?? '').startsWith('/realtime')) fx.upgrades++;
  });
  rt.on('error', (err) => fx.errors.push(String(err instanceof Error ? err.stack : err)));
  rt.on('connection', (session) => {
    session.on('message', (data: unknown) => {
      const m = (data ?? {}) as { pid?: unknown; ctl?: unknown; tag?: unknown; i?: unknown };
      if (typeof m.pid !== 'string') return void fx.errors.push(`message without pid: ${JSON.stringify(data)}`);
      if (m.ctl === 'reg') return void fx.sessions.set(m.pid, session);
      if (m.ctl === 'drop') return void session.disconnect(); // the page asks to lose its connection
      if (m.ctl !== undefined) return;
      fx.received.push({ pid: m.pid, tag: String(m.tag), i: Number(m.i), sid: session.id });
      session.send({ echo: data });
    });
  });
  return fx;
}

/** A page in a fresh context with its console, errors and failed requests logged. */
export interface OpenedPage {
  context: BrowserContext;
  page: Page;
  log: string[];
}

/**
 * Pass the test context's `onTestFinished` (concurrent tests must use theirs, not the global
 * one) to have the context closed when the test ends.
 */
export async function newPage(
  browser: Browser,
  onTestFinished?: (fn: () => Promise<void>) => void,
): Promise<OpenedPage> {
  const context = await browser.newContext();
  onTestFinished?.(() => context.close());
  const page = await context.newPage();
  const log: string[] = [];
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.stack ?? e.message}`));
  page.on('requestfailed', (r) => log.push(`requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => {
    if (r.status() >= 400) log.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return { context, page, log };
}

/** URL of a test page with its query parameters (see rt-page.js). */
export function pageUrl(
  base: string,
  params: {
    build?: 'iife' | 'esm';
    transport?: string;
    url?: string;
    opts?: object;
    pid?: string;
    auto?: boolean;
  } = {},
): string {
  const q = new URLSearchParams();
  if (params.transport) q.set('transport', params.transport);
  if (params.url) q.set('url', params.url);
  if (params.opts) q.set('opts', JSON.stringify(params.opts));
  if (params.pid) q.set('pid', params.pid);
  if (params.auto === false) q.set('auto', '0');
  return `${base}/test/browser/pages/rt-${params.build ?? 'iife'}.html?${q}`;
}

/** Loads `url` and checks the response, then waits for window.T.client. */
export async function load(p: OpenedPage, url: string): Promise<void> {
  const response = await p.page.goto(url);
  expect(response?.status(), `GET ${url}`).toBe(200);
  await waitUntil(p, () => !!window.T?.client, undefined, 'the page created its client');
}

/** What the page recorded, for failure messages. */
export async function pageSummary(p: OpenedPage): Promise<string> {
  let state: unknown;
  try {
    state = await p.page.evaluate(() => {
      const T = window.T;
      if (!T) return null;
      return {
        state: T.client?.state,
        transport: T.client?.transport,
        states: T.states,
        opens: T.opens,
        closes: T.closes.slice(-20),
        rtErrors: T.rtErrors,
        errors: T.errors,
        violations: T.violations,
        lifecycle: T.lifecycle,
        sends: T.settled(),
        pendingSends: T.sends.filter((s) => s.status !== 'resolved').slice(0, 20),
        received: T.received.length,
        lastReceived: T.received.slice(-5),
      };
    });
  } catch (err) {
    state = `(evaluate failed: ${String(err)})`;
  }
  return `page state: ${JSON.stringify(state)}\npage log:\n  ${p.log.slice(-60).join('\n  ') || '(empty)'}`;
}

/**
 * page.waitForFunction with a failure message that says what was awaited and what the page
 * had recorded by then.
 */
export async function waitUntil<A>(
  p: OpenedPage,
  fn: (arg: A) => unknown,
  arg: A,
  what: string,
  timeout = 20_000,
): Promise<void> {
  try {
    await p.page.waitForFunction(fn as (arg: unknown) => unknown, arg, { timeout, polling: 25 });
  } catch (err) {
    throw new Error(`timed out after ${timeout} ms waiting until ${what}\n${await pageSummary(p)}`, { cause: err });
  }
}

/** Waits until the client is open (optionally: has opened at least `opens` times). */
export function waitOpen(p: OpenedPage, opens = 1, timeout?: number): Promise<void> {
  return waitUntil(
    p,
    (n) => window.T.client?.state === 'open' && window.T.opens.length >= n,
    opens,
    `the client is open (${opens} open event(s))`,
    timeout,
  );
}

/** No page errors, no CSP violations, no unhandled rejections: checked at the end of every test. */
export async function expectClean(p: OpenedPage): Promise<void> {
  const { errors, violations } = await p.page.evaluate(() => ({
    errors: window.T?.errors ?? [],
    violations: window.T?.violations ?? [],
  }));
  const context = await pageSummary(p);
  expect(violations, `CSP violations\n${context}`).toEqual([]);
  expect(errors, `page errors\n${context}`).toEqual([]);
  expect(
    p.log.filter((l) => l.startsWith('pageerror') || /Content.Security.Policy|Refused to/i.test(l)),
    `page errors or CSP messages in the console\n${context}`,
  ).toEqual([]);
}

/** A fresh page id; app messages carry it so the server can tell pages apart. */
export const newPid = (): string => `p${randomUUID().slice(0, 8)}`;

/**
 * A new context and page on `transport` (rt-iife.html by default), open and registered with
 * the fixture's server. `onTestFinished`: see newPage.
 */
export async function openOn(
  browser: Browser,
  f: Fixture,
  transport: string,
  options: { build?: 'iife' | 'esm'; onTestFinished?: (fn: () => Promise<void>) => void } = {},
): Promise<{ p: OpenedPage; pid: string }> {
  const p = await newPage(browser, options.onTestFinished);
  const pid = newPid();
  await load(p, pageUrl(f.http.url, { build: options.build, transport, pid }));
  await waitOpen(p);
  await waitFor(() => f.sessions.has(pid), { what: `session of ${pid} registered`, timeout: 1000 });
  return { p, pid };
}

/**
 * The page sends `n` messages of `tag` while the server pushes `n` of `tag`; checks that every
 * send() resolved and that both directions arrived exactly once, in order.
 */
export async function exchange(p: OpenedPage, f: Fixture, pid: string, tag: string, n: number): Promise<void> {
  await p.page.evaluate(([t, k]) => window.T.send(t, k), [tag, n] as const);
  f.push(pid, tag, n);
  await waitUntil(
    p,
    ([t, k]) => window.T.echoes(t).length >= k && window.T.pushes(t).length >= k && window.T.settled(t).pending === 0,
    [tag, n] as const,
    `${n} echoes and ${n} pushes of '${tag}' arrived and every send() settled`,
  );
  const got = await p.page.evaluate(
    (t) => ({ echoes: window.T.echoes(t), pushes: window.T.pushes(t), settled: window.T.settled(t) }),
    tag,
  );
  const why = await pageSummary(p);
  expect(got.settled, why).toEqual({ pending: 0, resolved: n, rejected: 0, total: n });
  expect(f.got(pid, tag), `server received each '${tag}' once, in order`).toEqual(range(n));
  expect(got.echoes, `echoes of '${tag}' arrived once, in order`).toEqual(range(n));
  expect(got.pushes, `pushes of '${tag}' arrived once, in order`).toEqual(range(n));
}

/** 0..n-1 */
export const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, k) => from + k);

// ---- window.T, as rt-page.js defines it ----

export interface SendRecord {
  tag: string;
  i: number;
  status: 'pending' | 'resolved' | 'rejected';
  code: string | null;
  message?: string;
  state: string;
  at: number;
}

export interface PageApi {
  loadId: string;
  pid: string;
  errors: string[];
  violations: string[];
  lifecycle: Array<{ type: string; persisted?: boolean; onLine?: boolean; visibility?: string; at: number }>;
  states: string[];
  /** performance.now() when T.start() created the client (null before). */
  startedAt: number | null;
  /** `ms`: since startedAt, on the page's monotonic clock. */
  opens: Array<{ transport: string; resumed: boolean; at: number; ms: number; sends: number }>;
  closes: Array<{ code: number; reason: string; willReconnect: boolean }>;
  rtErrors: Array<{ code: string; message: string }>;
  transports: string[];
  received: unknown[];
  sends: SendRecord[];
  client: null | {
    state: string;
    transport: string | null;
    close(code?: number, reason?: string): void;
    connect(): void;
  };
  /** The library (IIFE global or ESM namespace), once the page's entry script called init(). */
  lib: unknown;
  start(extra?: object): unknown;
  control(msg: object): void;
  send(tag: string, count?: number): void;
  sendLoop(tag: string, ms: number): void;
  stopLoop(): void;
  echoes(tag: string): number[];
  pushes(tag: string): number[];
  settled(tag?: string): { pending: number; resolved: number; rejected: number; total: number };
  emulateVisibility(state: 'hidden' | 'visible'): void;
}

declare global {
  interface Window {
    T: PageApi;
  }
}

/**
 * The pages, from a static server of their own: their realtime server on `port` is then
 * cross-origin (CORS for the HTTP transports), allowed by a CSP as strict as the default.
 */
export function serveStaticBeside(port: number): Promise<StaticServer> {
  const realtime = `127.0.0.1:${port}`;
  return serveStatic({
    root,
    csp: [
      "default-src 'none'",
      "script-src 'self'",
      `connect-src 'self' http://${realtime} ws://${realtime}`,
      "style-src 'self'",
      "img-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
    routes: (_req, res, url) => {
      if (url.pathname !== '/favicon.ico') return false;
      res.writeHead(204).end();
      return true;
    },
  });
}
