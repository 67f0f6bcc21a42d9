// demo/chat.html, unchanged, against the PHP server of examples/php deployed as
// examples/php/deploy says: nginx serving the pages and routing /realtime to PHP-FPM, and
// WebSocket upgrades to ws-daemon.php. Two people in real Chromium: alice forced onto long-poll
// (her page has no WebSocket nor EventSource, and fetch-stream is refused), bob onto WebSocket
// (the HTTP transports are refused to his page). They exchange public and private messages; the
// daemon is SIGKILLed by pid mid-conversation and started again on its port; bob's session
// resumes on the new daemon from the shared SQLite file. Every message is shown exactly once
// on each side, none stays pending. Screenshots go to test-results/screenshots/.
import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureServices, INSTALL_TIMEOUT_MS } from '../services/index';
import { ensurePhp, ensurePhpFpm, startPhp, type PhpDaemon, type PhpStack } from '../services/php';
import { launchBrowser } from './chromium';
import { requireBuild, root } from './harness';

const shots = `${root}/test-results/screenshots`;

let browser: Browser;
let php: PhpStack;
let daemon: PhpDaemon;
let base: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  requireBuild();
  mkdirSync(shots, { recursive: true });
  await ensurePhp();
  await ensurePhpFpm();
  await ensureServices('nginx');
  php = await startPhp({ app: 'chat', settings: { allowedOrigins: ['self'] } });
  const fpm = await php.fpm();
  daemon = await php.daemon();
  const nginx = await php.site(fpm, daemon);
  base = nginx.url;
  browser = await launchBrowser();
}, INSTALL_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close()));
  await browser?.close();
  await php?.destroy();
});

interface Person {
  nick: string;
  page: Page;
  errors: string[];
}

/** A person on chat.html whose page can use only `transport`. */
async function join(nick: string, transport: 'long-poll' | 'websocket'): Promise<Person> {
  const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  contexts.push(context);
  if (transport === 'long-poll') {
    // No WebSocket, no EventSource: the client is left fetch-stream and long-poll; fetch-stream is
    // refused as a server that does not offer it would refuse it (400), so it falls back to long-poll.
    await context.addInitScript(() => {
      delete (window as { WebSocket?: unknown }).WebSocket;
      delete (window as { EventSource?: unknown }).EventSource;
    });
    await context.route(/\/realtime\?.*transport=fetch-stream/, (route) =>
      route.fulfill({ status: 400, contentType: 'text/plain', body: 'transport not offered' }),
    );
  } else {
    await context.route(/\/realtime\?.*transport=(sse|fetch-stream|long-poll)/, (route) =>
      route.fulfill({ status: 400, contentType: 'text/plain', body: 'transport not offered' }),
    );
  }
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  expect((await page.goto(`${base}/chat.html`))?.status()).toBe(200);
  await page.fill('#nick', nick);
  await page.press('#nick', 'Enter');
  await page
    .waitForFunction(
      (t) =>
        document.getElementById('state')?.textContent === 'open' &&
        document.getElementById('transport')?.textContent === `via ${t}`,
      transport,
      { timeout: 20_000 },
    )
    .catch(async (err: Error) => {
      const state = await page.evaluate(() => [
        document.getElementById('state')?.textContent,
        document.getElementById('transport')?.textContent,
        [...document.querySelectorAll('#log li.notice')].map((li) => li.textContent),
      ]);
      throw new Error(`${nick} did not get open via ${transport}: ${JSON.stringify(state)}; ${err.message}`);
    });
  await page.waitForFunction((n) => document.getElementById('me')?.textContent?.includes(n), nick);
  return { nick, page, errors };
}

/** Sends `text` to everyone, or privately to `to`. */
async function say(from: Person, text: string, to?: Person): Promise<void> {
  await from.page.selectOption('#to', to ? { label: to.nick } : { value: '' });
  await from.page.fill('#text', text);
  await from.page.press('#text', 'Enter');
}

/** The texts of the messages on `p`'s screen, in order. */
const shown = (p: Person): Promise<string[]> =>
  p.page.$$eval('#log li.msg .text', (els) => els.map((el) => el.textContent ?? ''));

/** Waits until every one of `texts` is on `p`'s screen. */
async function sees(p: Person, texts: string[]): Promise<void> {
  await p.page
    .waitForFunction(
      (want) => {
        const have = [...document.querySelectorAll('#log li.msg .text')].map((el) => el.textContent);
        return want.every((t) => have.includes(t));
      },
      texts,
      { timeout: 30_000 },
    )
    .catch(async (err: Error) => {
      throw new Error(
        `${p.nick} did not see ${JSON.stringify(texts)}; the screen shows ${JSON.stringify(await shown(p))}: ${err.message}`,
      );
    });
}

describe('demo/chat.html on the PHP server (nginx + PHP-FPM + ws-daemon.php)', () => {
  it('alice on long-poll and bob on WebSocket chat in public and in private; the daemon is SIGKILLed and restarted: every message shown once', async () => {
    const alice = await join('alice', 'long-poll');
    const bob = await join('bob', 'websocket');
    for (const p of [alice, bob]) {
      await p.page.waitForFunction(() =>
        ['alice', 'bob'].every((n) =>
          [...document.querySelectorAll('#people li.online')].some((li) => li.textContent?.includes(n)),
        ),
      );
    }

    await say(alice, 'hello everyone, alice here');
    await say(bob, 'hi alice, bob on a WebSocket');
    await say(alice, 'psst bob: long-poll to WebSocket', bob);
    await say(bob, 'psst alice: WebSocket to long-poll', alice);
    const before = [
      'hello everyone, alice here',
      'hi alice, bob on a WebSocket',
      'psst bob: long-poll to WebSocket',
      'psst alice: WebSocket to long-poll',
    ];
    await sees(alice, before);
    await sees(bob, before);

    // The daemon dies mid-conversation: bob's WebSocket goes with it.
    const killed = daemon.pid;
    await daemon.kill();
    await bob.page.waitForFunction(() => document.getElementById('state')?.textContent !== 'open');
    // Meanwhile alice writes (through PHP-FPM, into the shared database) and bob writes too (his
    // client keeps it until it can send).
    await say(alice, 'bob, are you still there?');
    await say(alice, 'psst bob: sent while your daemon was down', bob);
    await say(bob, 'typed while my connection is down');

    await daemon.start();
    expect(daemon.pid).not.toBe(killed);
    await bob.page.waitForFunction(
      () =>
        document.getElementById('state')?.textContent === 'open' &&
        document.getElementById('transport')?.textContent === 'via websocket',
      undefined,
      { timeout: 30_000 },
    );
    await say(bob, 'back on the new daemon');
    await say(alice, 'welcome back, bob');
    await say(bob, 'psst alice: after the restart', alice);

    const all = [
      ...before,
      'bob, are you still there?',
      'psst bob: sent while your daemon was down',
      'typed while my connection is down',
      'back on the new daemon',
      'welcome back, bob',
      'psst alice: after the restart',
    ];
    await sees(alice, all);
    await sees(bob, all);
    for (const p of [alice, bob]) {
      // Sent and acknowledged: nothing pending, nothing failed.
      await p.page.waitForFunction(
        () => document.querySelectorAll('#log li.msg.pending, #log li.msg.failed').length === 0,
        undefined,
        { timeout: 30_000 },
      );
      const texts = await shown(p);
      expect(
        texts.filter((t) => !all.includes(t)),
        `${p.nick}: unexpected messages`,
      ).toEqual([]);
      for (const t of all) expect(texts.filter((x) => x === t).length, `${p.nick}: how often "${t}" is shown`).toBe(1);
      expect(p.errors).toEqual([]);
    }
    // alice stayed on long-poll throughout.
    expect(await alice.page.textContent('#transport')).toBe('via long-poll');
    await alice.page.screenshot({ path: `${shots}/php-chat-alice.png`, fullPage: true });
    await bob.page.screenshot({ path: `${shots}/php-chat-bob.png`, fullPage: true });
  }, 120_000);
});
