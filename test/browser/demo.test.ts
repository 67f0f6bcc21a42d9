// 8. The demo pages, served by demo/serve.mjs in a child process (PORT from a free-port probe;
// the URL is parsed from what it prints), in real Chromium:
//  - chat: two people in two browser contexts; a message from one appears at the other, and at
//    the sender it goes from pending to delivered (✓);
//  - dashboard: "Drop connection" takes the state through reconnecting back to open, and no
//    tick goes missing;
//  - polling: both panels (classic polling and the plain long-poll client) show the status and
//    then update when it changes.
// Every page must run without page errors or CSP violations (serve.mjs sends a strict CSP).
// Screenshots go to test-results/screenshots/.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './chromium';
import { requireBuild, root } from './harness';

const shots = `${root}/test-results/screenshots`;

let browser: Browser;
let demo: ChildProcess | undefined;
let exited: Promise<void> | undefined;
let base: string;
const demoOutput: string[] = [];
const contexts: BrowserContext[] = [];

/** A port that was free on 127.0.0.1 a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  requireBuild();
  mkdirSync(shots, { recursive: true });
  const port = await freePort();
  const child = (demo = spawn(process.execPath, ['demo/serve.mjs'], {
    cwd: root,
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  exited = new Promise((resolve) => child.once('exit', () => resolve()));
  createInterface({ input: child.stderr }).on('line', (l) => demoOutput.push(`stderr: ${l}`));
  base = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (l) => {
      demoOutput.push(l);
      const m = /running at (https?:\/\/\S+?)\/?$/.exec(l);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`demo/serve.mjs exited (${signal ?? code}) before printing its URL:\n${demoOutput.join('\n')}`)),
    );
    child.once('error', reject);
  });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  if (demo && demo.exitCode === null && demo.signalCode === null) {
    demo.kill('SIGTERM');
    // serve.mjs shuts down on SIGTERM; if it hangs, do not hang the suite.
    const timer = setTimeout(() => demo?.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
});

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((c) => c.close()));
});

interface Watched {
  page: Page;
  log: string[];
}

/** A page in a new context, recording page errors and CSP violations (by an init script, which the CSP does not apply to). */
async function open(path: string): Promise<Watched> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  contexts.push(context);
  await context.addInitScript(() => {
    const w = window as unknown as { __violations: string[] };
    w.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      w.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'}`),
    );
  });
  const page = await context.newPage();
  const log: string[] = [];
  page.on('pageerror', (e) => log.push(`pageerror: ${e.stack ?? e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') log.push(`console.error: ${m.text()}`);
  });
  const response = await page.goto(`${base}${path}`);
  expect(response?.status(), `GET ${path}`).toBe(200);
  const csp = response?.headers()['content-security-policy'] ?? '';
  expect(csp, 'the demo pages are served with a strict CSP').toMatch(/script-src 'self'/);
  expect(csp).not.toMatch(/unsafe-(inline|eval)/);
  return { page, log };
}

async function expectClean(w: Watched): Promise<void> {
  const violations = await w.page.evaluate(() => (window as unknown as { __violations: string[] }).__violations);
  expect(violations, 'CSP violations').toEqual([]);
  expect(
    w.log.filter((l) => l.startsWith('pageerror') || /Content.Security.Policy|Refused to/i.test(l)),
    'page errors',
  ).toEqual([]);
}

const shot = (w: Watched, name: string) => w.page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

describe('demo pages (demo/serve.mjs)', () => {
  it('chat: a message from one person appears at the other, and goes from pending to delivered', async () => {
    const join = async (nick: string) => {
      const w = await open('/chat.html');
      await w.page.fill('#nick', nick);
      await w.page.press('#nick', 'Enter');
      await w.page.waitForFunction(() => document.getElementById('state')?.textContent === 'open');
      await w.page.waitForFunction((n) => document.getElementById('me')?.textContent?.includes(n), nick);
      return w;
    };
    const alice = await join('alice');
    const bob = await join('bob');
    // Both see each other online.
    for (const w of [alice, bob]) {
      await w.page.waitForFunction(() =>
        ['alice', 'bob'].every((n) =>
          [...document.querySelectorAll('#people li.online')].some((li) => li.textContent?.includes(n)),
        ),
      );
    }

    // Record every class the sender's message has, from the moment it is added.
    await alice.page.evaluate(() => {
      const w = window as unknown as { __classes: string[] };
      w.__classes = [];
      new MutationObserver((records) => {
        for (const r of records) {
          const li = r.type === 'attributes' ? r.target : r.addedNodes[0];
          if (li instanceof HTMLElement && li.matches('li.msg.mine')) w.__classes.push(li.className);
        }
      }).observe(document.getElementById('log')!, {
        childList: true,
        subtree: true,
        attributes: true,
        attributeFilter: ['class'],
      });
    });
    const text = `hello bob, ${Date.now()}`;
    await alice.page.fill('#text', text);
    await alice.page.press('#text', 'Enter');

    // Bob sees it, from alice.
    await bob.page.waitForFunction(
      (t) =>
        [...document.querySelectorAll('#log li.msg')].some(
          (li) => li.querySelector('.text')?.textContent === t && li.querySelector('.who')?.textContent === 'alice',
        ),
      text,
    );
    // Alice sees it delivered: ✓, no longer pending, after having been pending.
    await alice.page.waitForFunction((t) => {
      const li = [...document.querySelectorAll('#log li.msg.mine')].find(
        (el) => el.querySelector('.text')?.textContent === t,
      );
      return li && !li.classList.contains('pending') && li.querySelector('.tick')?.textContent === '✓';
    }, text);
    const classes = await alice.page.evaluate(() => (window as unknown as { __classes: string[] }).__classes);
    const pendingAt = classes.findIndex((c) => c.split(' ').includes('pending'));
    expect(pendingAt, `classes seen: ${JSON.stringify(classes)}`).toBeGreaterThanOrEqual(0);
    expect(
      classes.slice(pendingAt + 1).some((c) => !c.split(' ').includes('pending') && !c.split(' ').includes('failed')),
      `classes seen: ${JSON.stringify(classes)}`,
    ).toBe(true);
    // Exactly once at each side.
    for (const w of [alice, bob]) {
      const n = await w.page.evaluate(
        (t) => [...document.querySelectorAll('#log li.msg .text')].filter((el) => el.textContent === t).length,
        text,
      );
      expect(n).toBe(1);
    }

    await shot(alice, 'chat-alice');
    await shot(bob, 'chat-bob');
    await expectClean(alice);
    await expectClean(bob);
  });

  it('dashboard: "Drop connection" goes through reconnecting back to open, without losing a tick', async () => {
    const w = await open('/dashboard.html');
    await w.page.waitForFunction(
      () =>
        document.getElementById('state')?.textContent === 'open' &&
        Number(document.getElementById('ticks')?.textContent) >= 3,
    );
    await w.page.evaluate(() => {
      const win = window as unknown as { __states: string[] };
      win.__states = [];
      const el = document.getElementById('state')!;
      new MutationObserver(() => win.__states.push(el.textContent ?? '')).observe(el, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
    const ticksBefore = Number(await w.page.textContent('#ticks'));
    await w.page.click('#drop');
    await w.page.waitForFunction(() => {
      const states = (window as unknown as { __states: string[] }).__states;
      const r = states.indexOf('reconnecting');
      return r >= 0 && states.indexOf('open', r) > r && document.getElementById('state')?.textContent === 'open';
    });
    // Ticks keep coming after the resume, and none went missing.
    await w.page.waitForFunction((n) => Number(document.getElementById('ticks')?.textContent) >= n + 10, ticksBefore);
    expect(await w.page.textContent('#missing')).toBe('0');
    const timeline = await w.page.$$eval('#timeline li', (lis) => lis.map((li) => li.textContent ?? ''));
    expect(timeline.some((t) => t.includes('open → reconnecting'))).toBe(true);
    expect(timeline.some((t) => t.includes('session resumed'))).toBe(true);
    await shot(w, 'dashboard');
    await expectClean(w);
  });

  it('polling: both panels show the status, then both update when it changes', { timeout: 60_000 }, async () => {
    const w = await open('/polling.html');
    // Count the renders of each side (each replaces the children of its status list).
    await w.page.evaluate(() => {
      const win = window as unknown as { __renders: Record<string, number> };
      win.__renders = { classic: 0, live: 0 };
      for (const side of ['classic', 'live']) {
        const dl = document.querySelector(`.view[data-side="${side}"] dl.status`)!;
        if (dl.children.length) win.__renders[side]!++;
        new MutationObserver(() => win.__renders[side]!++).observe(dl, { childList: true });
      }
    });
    await w.page.waitForFunction(() => document.getElementById('live-state')?.textContent === 'open');
    // The status changes every 2–10 s; each side must show the first status and then a change.
    await w.page.waitForFunction(
      () => {
        const r = (window as unknown as { __renders: Record<string, number> }).__renders;
        return r.classic! >= 2 && r.live! >= 2;
      },
      undefined,
      { timeout: 40_000 },
    );
    const shown = await w.page.$$eval('.view dl.status', (dls) => dls.map((dl) => dl.querySelectorAll('dd').length));
    expect(shown).toEqual([5, 5]);
    expect(await w.page.isHidden('#notice'), 'this build has long-poll').toBe(true);
    await w.page.waitForFunction(() => document.getElementById('summary')?.textContent?.startsWith('Long-poll:'));
    await shot(w, 'polling');
    await expectClean(w);
  });
});
