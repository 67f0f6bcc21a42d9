import { randomBytes } from 'node:crypto';
import { CaseFailure, check, show } from '../errors';
import { isBase64UrlWithBits, type AnyFrame } from '../frames';
import { begin, fetchText, header } from '../http';
import { linkUrl } from '../transports/post';
import { StreamConn } from '../transports/stream';
import { baseHeaders } from '../transports/types';
import type { Case, CaseContext } from './types';
import { closedWith, pad, prompt } from './util';

const TEXT = { 'Content-Type': 'text/plain;charset=UTF-8' };
const http = (d: { http: boolean }): boolean => d.http;

/** POSTs raw body bytes to a link (no frame handling): for what no client would send. */
function postRaw(ctx: CaseContext, linkId: string, body: string | Buffer | Array<string | Buffer>, wait?: number) {
  return fetchText(linkUrl(ctx.target, linkId, wait), { method: 'POST', headers: baseHeaders(ctx.target, TEXT), body });
}

/** The stream connection behind a stream-link case. */
function stream(conn: unknown): StreamConn {
  if (!(conn instanceof StreamConn)) throw new CaseFailure('a stream link', 'another kind of connection');
  return conn;
}

/** §14.1-§14.3 and §14.7: links, POSTs and statuses, on every HTTP transport. */
export const httpCases: Case[] = [
  {
    id: 'V1-LINK-001',
    level: 'MUST',
    section: '§14.1',
    title: '"The link id MUST carry at least 128 bits", base64url, a new one for every link',
    applies: http,
    async run(ctx) {
      const a = await ctx.open();
      const b = await ctx.open();
      for (const id of [a.linkId, b.linkId])
        check(isBase64UrlWithBits(id, 128), 'a link id of ≥ 128 bits in base64url (≥ 22 characters)', () => show(id));
      check(a.linkId !== b.linkId, 'a new id for each link', () => 'the same id twice');
    },
  },
  {
    id: 'V1-LINK-002',
    level: 'MUST',
    section: '§14.1',
    title:
      '"a server MUST forget ended links (requests naming them get 404)": an unknown link gets 404 with a text/plain reason',
    applies: http,
    async run(ctx) {
      const r = await postRaw(ctx, randomBytes(18).toString('base64url'), '{"t":"ping"}');
      check(r.status === 404, 'HTTP 404', () => `HTTP ${r.status}`);
      check(
        header(r.headers, 'content-type').startsWith('text/plain') && r.body.trim() !== '',
        'a text/plain reason (§14.7)',
        () => show(header(r.headers, 'content-type')),
      );
    },
  },
  {
    id: 'V1-LINK-003',
    level: 'MUST',
    section: '§14.1',
    title: '"a server MUST forget ended links": a POST naming a link the client closed gets 404',
    applies: http,
    async run(ctx) {
      const p = await ctx.connect();
      await p.conn.send([{ t: 'close', code: 1000, reason: 'bye' }]);
      await p.conn.gone(prompt(ctx));
      const r = await postRaw(ctx, p.conn.linkId!, '{"t":"ping"}');
      check(r.status === 404, 'HTTP 404', () => `HTTP ${r.status}`);
    },
  },
  {
    id: 'V1-LINK-004',
    level: 'MUST',
    section: '§14.3',
    title: '"the POST itself still gets 204, the outcome travels on the link": a protocol error in a body',
    applies: http,
    async run(ctx) {
      const p = await ctx.connect();
      const r = await p.conn.send(['{"t":"nonsense"}']);
      check(r.status === 204, 'HTTP 204', () => `HTTP ${r.status}`);
      await closedWith(p.conn, 4400, ctx);
    },
  },
  {
    id: 'V1-LINK-005',
    level: 'MUST',
    section: '§14.3',
    title: '"one or more frames separated by \\n (blank lines and a trailing \\n are ignored)", answered 204',
    applies: http,
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      const r = await postRaw(
        ctx,
        p.conn.linkId!,
        '\n{"t":"msg","s":1,"d":["one"]}\n\n{"t":"msg","s":2,"d":["two"]}\n',
      );
      check(r.status === 204, 'HTTP 204', () => `HTTP ${r.status}`);
      const echoes = await p.echoOf('two');
      check(echoes.join() === 'one,two', 'echoes of one, two', () => show(echoes));
    },
  },
  {
    id: 'V1-HTTP-001',
    level: 'MUST',
    section: '§14.7',
    title: '"400 transport missing or unknown"',
    applies: http,
    async run(ctx) {
      for (const q of ['', '?transport=carrier-pigeon']) {
        const r = await fetchText(ctx.target.http + q, { headers: baseHeaders(ctx.target) });
        check(r.status === 400, `HTTP 400 for ${q || 'no transport'}`, () => `HTTP ${r.status}`);
      }
    },
  },
  {
    id: 'V1-HTTP-002',
    level: 'MUST',
    section: '§14.7',
    title: '"405 any method but GET, POST, OPTIONS (Allow: GET, POST, OPTIONS)"',
    applies: http,
    async run(ctx) {
      const r = await fetchText(`${ctx.target.http}?transport=${ctx.driver.name}`, {
        method: 'PUT',
        headers: baseHeaders(ctx.target),
        body: '',
      });
      check(r.status === 405, 'HTTP 405', () => `HTTP ${r.status}`);
      check(
        /GET/.test(header(r.headers, 'allow')) && /POST/.test(header(r.headers, 'allow')),
        'an Allow header listing GET and POST',
        () => show(header(r.headers, 'allow')),
      );
    },
  },
  {
    id: 'V1-HTTP-003',
    level: 'MUST',
    section: '§14.7',
    title: '"400 missing link": a POST naming no link',
    applies: http,
    async run(ctx) {
      const r = await fetchText(ctx.target.http, {
        method: 'POST',
        headers: baseHeaders(ctx.target, TEXT),
        body: '{"t":"ping"}',
      });
      check(r.status === 400, 'HTTP 400', () => `HTTP ${r.status}`);
    },
  },
  {
    id: 'V1-SSE-001',
    level: 'MUST',
    section: '§14.2',
    title:
      'a stream link answers 200 text/event-stream, "the comment :ok\\n\\n ... is the first byte", then the link frame as an event',
    applies: (d) => d.stream,
    async run(ctx) {
      const conn = stream(await ctx.open());
      const type = header(conn.opening.headers, 'content-type');
      check(/^text\/event-stream\b/.test(type), 'Content-Type: text/event-stream', () => show(type));
      check(
        conn.raw.startsWith(':ok\n\n') || conn.raw.startsWith(':ok\r\n\r\n'),
        'the body to begin with ":ok" and a blank line',
        () => show(conn.raw.slice(0, 40)),
      );
      const first = conn.events.find((e) => e.data !== undefined);
      check(first?.data?.includes('"link"') === true, 'the link frame as the first event', () => show(first));
    },
  },
  {
    id: 'V1-SSE-002',
    level: 'SHOULD',
    section: '§14.2',
    title: 'stream headers "Cache-Control: no-cache, no-transform" and "X-Accel-Buffering: no", for proxies',
    applies: (d) => d.stream,
    async run(ctx) {
      const conn = stream(await ctx.open());
      const cache = header(conn.opening.headers, 'cache-control');
      check(/no-cache/.test(cache) && /no-transform/.test(cache), 'Cache-Control: no-cache, no-transform', () =>
        show(cache),
      );
      check(header(conn.opening.headers, 'x-accel-buffering') === 'no', 'X-Accel-Buffering: no', () =>
        show(header(conn.opening.headers, 'x-accel-buffering')),
      );
    },
  },
  {
    id: 'V1-SSE-003',
    level: 'MUST',
    section: '§14.2',
    title:
      '"A msg event has an id: line ... carrying the sequence number of the last message in the frame. Other events have no id:"',
    applies: (d) => d.stream,
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.push(3);
      await p.pushed(3);
      const conn = stream(p.conn);
      for (const e of conn.events.filter((x) => x.data !== undefined)) {
        const f = JSON.parse(e.data!) as AnyFrame;
        const want =
          f.t === 'msg' && typeof f.s === 'number' && Array.isArray(f.d) ? String(f.s + f.d.length - 1) : undefined;
        check(e.id === want, `${want === undefined ? 'no id' : `id: ${want}`} on a ${f.t} event`, () =>
          show(e.id ?? 'no id'),
        );
      }
    },
  },
  {
    id: 'V1-LIMIT-002',
    level: 'SHOULD',
    section: '§14.3',
    title: '"A body larger than 4 × max bytes ... gets 413 ... and the link is closed with 4413"',
    applies: http,
    timeout: 30_000,
    async run(ctx) {
      const p = await ctx.connect();
      const max = p.welcome.max as number;
      const part = Math.floor(max * 0.9);
      const frames = Array.from({ length: 5 }, (_, i) => `{"t":"msg","s":${i + 1},"d":["${pad(part)}"]}`);
      const r = await postRaw(ctx, p.conn.linkId!, frames.join('\n')).catch((err: Error) => ({
        status: 0,
        body: err.message,
      }));
      await closedWith(p.conn, 4413, ctx);
      check(r.status === 413, 'HTTP 413', () => (r.status ? `HTTP ${r.status}` : `no answer (${r.body})`));
    },
  },
  {
    id: 'V1-LIMIT-003',
    level: 'SHOULD',
    section: '§14.3',
    title: '"carrying more than 1000 frames ... gets 413 ... and the link is closed with 4413"',
    applies: http,
    async run(ctx) {
      const p = await ctx.connect();
      const r = await postRaw(ctx, p.conn.linkId!, Array.from({ length: 1001 }, () => '{"t":"ack","a":0}').join('\n'));
      check(r.status === 413, 'HTTP 413', () => `HTTP ${r.status}`);
      await closedWith(p.conn, 4413, ctx);
    },
  },
  {
    id: 'V1-LIMIT-004',
    level: 'MUST',
    section: '§14.3',
    title:
      'a resend of a large backlog in one POST (3 frames near max): "read it whole before splitting lines", every frame handled',
    applies: http,
    needs: ['app'],
    timeout: 30_000,
    async run(ctx) {
      const p = await ctx.connect();
      const max = p.welcome.max as number;
      const big = (s: number): string => `{"t":"msg","s":${s},"d":[{"cmd":"push","n":0,"pad":"${pad(max - 60)}"}]}`;
      const r = await postRaw(ctx, p.conn.linkId!, [big(1), big(2), big(3)].join('\n'));
      check(r.status === 204, 'HTTP 204', () => `HTTP ${r.status} ${r.body.trim()}`);
      p.sent = 3;
      await p.say('after-backlog');
      await p.echoOf('after-backlog');
      const echo = p.conn.frames.filter((f) => f.t === 'msg').pop()!;
      check(echo.a === 4, 'a: 4 (all three large messages and the marker received)', () => `a: ${show(echo.a)}`);
    },
  },
  {
    id: 'V1-LIMIT-005',
    level: 'MUST',
    section: '§14.3',
    title: 'a POST body that arrives in many small pieces is handled as a whole',
    applies: http,
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      const body = Buffer.from('{"t":"msg","s":1,"d":["piece","by","piece-é"]}\n{"t":"msg","s":4,"d":["done"]}');
      const pieces = Array.from({ length: Math.ceil(body.length / 3) }, (_, i) => body.subarray(i * 3, i * 3 + 3));
      const r = await postRaw(ctx, p.conn.linkId!, pieces);
      check(r.status === 204, 'HTTP 204', () => `HTTP ${r.status}`);
      const echoes = await p.echoOf('done');
      check(echoes.join() === 'piece,by,piece-é,done', 'piece, by, piece-é, done', () => show(echoes));
    },
  },
  {
    id: 'V1-LIMIT-006',
    level: 'MUST',
    section: '§14.7',
    title: '"A server MUST NOT crash on bad input (... aborted requests)": a POST aborted mid-body handles none of it',
    applies: http,
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      const whole = '{"t":"msg","s":1,"d":["lost"]}\n{"t":"msg","s":2,"d":["lost-too"]}';
      const half = whole.slice(0, whole.indexOf('\n') + 10);
      const headers = baseHeaders(ctx.target, { ...TEXT, 'Content-Length': String(Buffer.byteLength(whole)) });
      const { req, response } = begin(linkUrl(ctx.target, p.conn.linkId!), {
        method: 'POST',
        headers,
        body: [half, Buffer.alloc(0)],
      });
      response.catch(() => undefined);
      await new Promise((resolve) => setImmediate(resolve));
      req.destroy();
      // The server may not have seen the abort yet: "a POST for this link is already in progress"
      // (429) is its fair answer until it does, and a client retries (§14.7).
      const kept = { t: 'msg', s: 1, d: ['kept'] };
      for (let tries = 1; ; tries++) {
        const r = await p.conn.send([kept]);
        if (r.status !== 429) break;
        if (tries === 20)
          throw new CaseFailure('the next POST taken once the abort is seen', 'HTTP 429 twenty times, 50 ms apart');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      p.sent = 1;
      const echoes = await p.echoOf('kept');
      check(echoes.join() === 'kept', 'only "kept" echoed', () => show(echoes));
    },
  },
];
