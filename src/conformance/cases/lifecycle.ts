import { describeEnding } from '../conn';
import { CaseSkipped, check, show } from '../errors';
import { openWebSocket } from '../transports/websocket';
import type { Case } from './types';
import { checkResumed, closedWith, cut, expectEnded, heartbeat, prompt, resume } from './util';

/** §10 heartbeat, §11 closing and close codes, §5 lifetime. */
export const lifecycleCases: Case[] = [
  {
    id: 'V1-HB-001',
    level: 'MUST',
    section: '§10',
    title: '"When the server has sent nothing on a connection for hb ms, it sends {"t":"ping","a":N}"',
    timeout: 75_000,
    async run(ctx) {
      const p = await ctx.connect();
      const hb = heartbeat(p, ctx);
      const ping = await p.frame('ping', ctx.ms(hb + 5000));
      check(Number.isSafeInteger(ping.a), 'a ping carrying a', () => show(ping));
    },
  },
  {
    id: 'V1-HB-002',
    level: 'MUST',
    section: '§10',
    title: '"A client MAY send ping; the server answers {"t":"pong","a":N}"',
    async run(ctx) {
      const p = await ctx.connect();
      await p.conn.send([{ t: 'ping', a: 0 }]);
      const pong = await p.frame('pong');
      check(pong.a === 0, '{"t":"pong","a":0}', () => show(pong));
    },
  },
  {
    id: 'V1-HB-003',
    level: 'MUST',
    section: '§9',
    title:
      'pings received before a pong could go out get one pong or a few, "which carries the latest a", never more than one per ping',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.say('before-pings');
      await p.echoOf('before-pings');
      await p.conn.send(Array.from({ length: 20 }, () => ({ t: 'ping', a: p.conn.received })));
      const pong = await p.frame('pong');
      await p.say('after-pings');
      await p.echoOf('after-pings');
      const pongs = p.conn.frames.filter((f) => f.t === 'pong');
      check(pongs.length <= 20, 'at most 20 pongs for 20 pings', () => `${pongs.length}`);
      check(pong.a === 1, 'a: 1 on the pong', () => show(pong));
    },
  },
  {
    id: 'V1-HB-004',
    level: 'MUST',
    section: '§10',
    title: '"has received nothing on a connection for 2 × hb closes that connection with 4408 ... not the session"',
    timeout: 75_000,
    async run(ctx) {
      const p = await ctx.connect();
      const hb = heartbeat(p, ctx, 30_000);
      await p.conn.silence(ctx.ms(2 * hb + 2000));
      const end = await p.conn.ended(prompt(ctx));
      // "or terminates it if it cannot close cleanly"; a long-poll link nobody polls may also be
      // dropped first (§14.4 point 5: 404 afterwards). Either way the session must stay.
      check(end.frame ? end.frame.code === 4408 : true, 'a close frame with 4408, or a drop without one', () =>
        describeEnding(end),
      );
      const q = await resume(ctx, p);
      checkResumed(q.welcome, p);
    },
  },
  {
    id: 'V1-CLOSE-001',
    level: 'MUST',
    section: '§11',
    title:
      '"the server sends {"t":"close","code":C,"reason":R} and then closes the transport with the same code and reason"; with 4403 the session ends',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.closeBy(4403, 'conformance kit');
      const end = await closedWith(p.conn, 4403, ctx);
      check(end.frame?.reason === 'conformance kit', 'reason "conformance kit"', () => show(end.frame?.reason));
      const gone = await p.conn.gone(prompt(ctx));
      if (ctx.driver.closeCodes) {
        check(
          gone.code === 4403 && gone.reason === 'conformance kit',
          'the transport closed with 4403 "conformance kit"',
          () => `${gone.code} ${show(gone.reason)}`,
        );
      }
      await expectEnded(ctx, p);
    },
  },
  {
    id: 'V1-CLOSE-002',
    level: 'MUST',
    section: '§11',
    title: 'the application closes with 1000: the session "ends" (a resume gets a new session)',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.closeBy(1000, 'done');
      await closedWith(p.conn, 1000, ctx);
      await expectEnded(ctx, p);
    },
  },
  {
    id: 'V1-CLOSE-003',
    level: 'MUST',
    section: '§11',
    title:
      'a close code the application chooses ends the session, whatever the code: 4500 (retryable) still gets a new session on resume',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.closeBy(4500, 'application says retry');
      await closedWith(p.conn, 4500, ctx);
      await expectEnded(ctx, p);
    },
  },
  {
    id: 'V1-CLOSE-004',
    level: 'MUST',
    section: '§11',
    title:
      '"A client MAY send a close frame before closing; with code 1000 it ends the session", and no close frame comes back',
    async run(ctx) {
      const p = await ctx.connect();
      await p.conn.send([{ t: 'close', code: 1000, reason: 'bye' }]);
      const end = await p.conn.gone(prompt(ctx));
      check(end.frame === undefined, 'no close frame back', () => show(end.frame));
      await expectEnded(ctx, p);
    },
  },
  {
    id: 'V1-CLOSE-005',
    level: 'MUST',
    section: '§11',
    title: '"with any other code the session stays resumable": a client close frame with 4000',
    async run(ctx) {
      const p = await ctx.connect();
      await p.conn.send([{ t: 'close', code: 4000, reason: 'switching' }]);
      await p.conn.gone(prompt(ctx));
      const q = await resume(ctx, p);
      checkResumed(q.welcome, p);
    },
  },
  {
    id: 'V1-CLOSE-006',
    level: 'MUST',
    section: '§5',
    title: '"the client closes with code 1000 (WebSocket close code ...)": the session ends',
    applies: (d) => d.closeCodes,
    async run(ctx) {
      const p = await ctx.connect();
      p.conn.closeWith?.(1000);
      await p.conn.gone(prompt(ctx));
      await expectEnded(ctx, p);
    },
  },
  {
    id: 'V1-CLOSE-007',
    level: 'MUST',
    section: '§5',
    title:
      '"A client that closes with any other code (1001 ...) may come back": WebSocket close 1001 keeps the session',
    applies: (d) => d.closeCodes,
    async run(ctx) {
      const p = await ctx.connect();
      p.conn.closeWith?.(1001);
      await p.conn.gone(prompt(ctx));
      const q = await resume(ctx, p);
      checkResumed(q.welcome, p);
    },
  },
  {
    id: 'V1-CLOSE-008',
    level: 'MUST',
    section: '§5',
    title:
      'the upgrade probe: a WebSocket closed with 1000 before any frame ends no session (1000 ends only a connection with a session)',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      const probe = await openWebSocket(ctx.target).catch((err: Error) => {
        throw new CaseSkipped(`no WebSocket to probe with: ${err.message}`);
      });
      ctx.track(probe);
      probe.closeWith(1000);
      await probe.gone(prompt(ctx));
      await p.say('after-probe');
      await p.echoOf('after-probe');
      await cut(p, ctx);
      const q = await resume(ctx, p);
      checkResumed(q.welcome, p);
    },
  },
  {
    id: 'V1-CLOSE-009',
    level: 'MUST',
    section: '§5',
    title: 'a connection cut mid-stream keeps the session: the resume brings every message exactly once, in order',
    needs: ['app'],
    timeout: 20_000,
    async run(ctx) {
      const p = await ctx.connect({ max: 1024 }); // many frames, so the cut falls between them
      p.conn.autoPong = false;
      await p.push(200, 200);
      await p.pushed(1);
      p.conn.cut();
      await p.conn.gone(prompt(ctx)).catch(() => undefined);
      const before = p.messages().filter(([s]) => s <= p.conn.received);
      const q = await resume(ctx, p);
      checkResumed(q.welcome, p);
      const after = await q.pushed(200 - before.length);
      const all = [...before, ...after];
      const wrong = all.findIndex(([s, d], i) => s !== i + 1 || (d as { push: number }).push !== i + 1);
      check(
        all.length === 200 && wrong < 0,
        'pushes 1-200 with seqs 1-200, once each',
        () => `${all.length} messages; first wrong at index ${wrong}: ${show(all[wrong])}`,
      );
    },
  },
];
