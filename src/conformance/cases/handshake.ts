import { check, show } from '../errors';
import { hello } from '../frames';
import { checkWelcome } from '../peer';
import type { Case } from './types';
import { closedWith, prompt, resume } from './util';

/** §4 Handshake, and authentication. */
export const handshakeCases: Case[] = [
  {
    id: 'V1-HANDSHAKE-001',
    level: 'MUST',
    section: '§4',
    title: 'hello is answered with welcome first, carrying every field of §3 with its type',
    async run(ctx) {
      const p = await ctx.connect();
      checkWelcome(p.welcome, ctx.driver.name);
      check(p.welcome.resumed === false && p.welcome.a === 0, 'resumed: false and a: 0 for a new session', () =>
        show({ resumed: p.welcome.resumed, a: p.welcome.a }),
      );
    },
  },
  {
    id: 'V1-HANDSHAKE-002',
    level: 'MUST',
    section: '§4',
    title: '"If there is none it closes with 4406": a hello offering no version the server speaks',
    async run(ctx) {
      const conn = await ctx.open();
      await conn.send([hello({ v: [2, 3] })]);
      await closedWith(conn, 4406, ctx);
      check(!conn.frames.some((f) => f.t === 'welcome'), 'no welcome', () => 'a welcome');
    },
  },
  {
    id: 'V1-HANDSHAKE-003',
    level: 'MUST',
    section: '§4',
    title:
      'version negotiation: welcome.v is the highest version in common; non-integer entries of hello.v are ignored',
    async run(ctx) {
      const p = await ctx.connect({ v: [1, 99, '2', 1.5] });
      check(p.welcome.v === 1, 'welcome.v = 1', () => show(p.welcome.v));
    },
  },
  {
    id: 'V1-HANDSHAKE-004',
    level: 'MUST',
    section: '§4',
    title: '"first frame is not hello" closes with 4400',
    async run(ctx) {
      const conn = await ctx.open();
      await conn.send([{ t: 'msg', s: 1, d: ['x'] }]);
      await closedWith(conn, 4400, ctx);
    },
  },
  {
    id: 'V1-HANDSHAKE-005',
    level: 'MUST',
    section: '§2',
    title: '"A hello whose max is below 256 is a protocol error (4400)"',
    async run(ctx) {
      const conn = await ctx.open();
      await conn.send([hello({ max: 255 })]);
      await closedWith(conn, 4400, ctx);
    },
  },
  {
    id: 'V1-HANDSHAKE-006',
    level: 'MUST',
    section: '§4',
    title: '"A second hello on the same connection is a protocol error (4400)"',
    async run(ctx) {
      const p = await ctx.connect();
      await p.conn.send([hello()]);
      await closedWith(p.conn, 4400, ctx);
    },
  },
  {
    id: 'V1-HANDSHAKE-007',
    level: 'MUST',
    section: '§4',
    title: '"A welcome sent by a client is a protocol error"',
    async run(ctx) {
      const p = await ctx.connect();
      await p.conn.send([p.welcome]);
      await closedWith(p.conn, 4400, ctx);
    },
  },
  {
    id: 'V1-HANDSHAKE-008',
    level: 'SHOULD',
    section: '§4',
    title:
      'no hello within the handshake timeout closes with 4408 (retryable); over HTTP the timer starts with the link (reference 10 s; the kit waits 30 s)',
    timeout: 40_000,
    async run(ctx) {
      const conn = await ctx.open();
      const end = await conn.ended(ctx.ms(30_000));
      check(end.frame?.code === 4408, 'a close frame with code 4408', () => show(end));
    },
  },
  {
    id: 'V1-HANDSHAKE-009',
    level: 'MUST',
    section: '§14.3',
    title:
      'frames after hello in the same POST body: welcome still comes first, then they are handled or the link closes with 4400',
    applies: (d) => d.http,
    needs: ['app'],
    async run(ctx) {
      const conn = await ctx.open();
      await conn.send([hello(), { t: 'msg', s: 1, d: ['after-hello'] }]);
      const first = await conn.next(() => true, 'a welcome frame', prompt(ctx));
      check(first.t === 'welcome', 'welcome as the first frame', () => show(first));
      await conn.until(
        () => (conn.ending || conn.frames.some((f) => f.t === 'msg') ? true : undefined),
        'the echo of the message, or a close',
        prompt(ctx),
      );
      if (conn.ending)
        check(conn.ending.frame?.code === 4400, 'a close with 4400 if not handled', () => show(conn.ending));
    },
  },
  {
    id: 'V1-AUTH-001',
    level: 'MUST',
    section: '§4',
    title:
      '"Servers MUST accept both": the token in hello.token, and over HTTP in the Authorization header of the POST carrying hello',
    needs: ['token'],
    async run(ctx) {
      // ctx.connect() sends the token as a real client does on this transport (header over HTTP).
      await ctx.connect();
      const conn = await ctx.open();
      await conn.send([hello({ token: ctx.target.token })], { headers: { Authorization: '' } });
      const w = await conn.next(() => true, 'a welcome frame', prompt(ctx));
      check(w.t === 'welcome', 'welcome for the token in hello.token', () => show(w));
    },
  },
  {
    id: 'V1-AUTH-002',
    level: 'MUST',
    section: '§4',
    title: '"A refusal ... closes the connection with 4401 unauthorized": a made-up token',
    needs: ['token'],
    async run(ctx) {
      const conn = await ctx.open();
      await conn.send([hello({ token: 'conformance-kit-made-up-token' })]);
      const end = await closedWith(conn, 4401, ctx);
      check(!end.frame?.reason.includes('made-up'), 'a reason without the token (§4: never "in a close reason")', () =>
        show(end.frame?.reason),
      );
    },
  },
  {
    id: 'V1-AUTH-003',
    level: 'MUST',
    section: '§4',
    title: '"it calls it for every connection, resumes included": a resume with a made-up token gets 4401',
    needs: ['token'],
    async run(ctx) {
      const p = await ctx.connect();
      p.conn.cut();
      const conn = await ctx.open();
      await conn.send([hello({ sid: p.sid, key: p.key, token: 'conformance-kit-made-up-token' })]);
      await closedWith(conn, 4401, ctx);
      await resume(ctx, p, 0); // the honest client may still come back
    },
  },
];
