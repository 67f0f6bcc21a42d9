import { CaseFailure, check, show } from '../errors';
import { hello } from '../frames';
import { fetchText, header } from '../http';
import { Peer, PROMPT_MS } from '../peer';
import { linkUrl } from '../transports/post';
import type { Case } from './types';
import { prompt } from './util';

const http = (d: { http: boolean }): boolean => d.http;

/** §12 and §14.6: Origin checks and CORS. */
export const originCases: Case[] = [
  {
    id: 'V1-ORIGIN-002',
    level: 'MUST',
    section: '§14.6',
    title:
      '"Every response to an allowed cross-origin request carries Access-Control-Allow-Origin: <origin> and Vary: Origin"; preflights get 204',
    applies: http,
    needs: ['origin'],
    async run(ctx) {
      const origin = ctx.target.origin!;
      const conn = await ctx.open();
      check(
        header(conn.opening!.headers, 'access-control-allow-origin') === origin,
        `Access-Control-Allow-Origin: ${origin}`,
        () => show(header(conn.opening!.headers, 'access-control-allow-origin')),
      );
      check(/origin/i.test(header(conn.opening!.headers, 'vary')), 'Vary: Origin', () =>
        show(header(conn.opening!.headers, 'vary')),
      );
      const pre = await fetchText(linkUrl(ctx.target, conn.linkId!), {
        method: 'OPTIONS',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'authorization',
        },
      });
      check(pre.status === 204, 'HTTP 204 for the preflight', () => `HTTP ${pre.status}`);
      const methods = header(pre.headers, 'access-control-allow-methods');
      const allowed = header(pre.headers, 'access-control-allow-headers');
      check(/GET/.test(methods) && /POST/.test(methods), 'Access-Control-Allow-Methods: GET, POST', () =>
        show(methods),
      );
      check(/authorization/i.test(allowed), 'Access-Control-Allow-Headers listing Authorization', () => show(allowed));
      check(
        header(pre.headers, 'access-control-allow-origin') === origin,
        `Access-Control-Allow-Origin: ${origin} on the preflight`,
        () => show(header(pre.headers, 'access-control-allow-origin')),
      );
    },
  },
  {
    id: 'V1-ORIGIN-003',
    level: 'SHOULD',
    section: '§14.6',
    title: '"It SHOULD send Access-Control-Max-Age" on preflights',
    applies: http,
    needs: ['origin'],
    async run(ctx) {
      const pre = await fetchText(`${ctx.target.http}?link=x`, {
        method: 'OPTIONS',
        headers: { Origin: ctx.target.origin!, 'Access-Control-Request-Method': 'POST' },
      });
      check(/^\d+$/.test(header(pre.headers, 'access-control-max-age')), 'Access-Control-Max-Age: <seconds>', () =>
        show(header(pre.headers, 'access-control-max-age')),
      );
    },
  },
  {
    id: 'V1-ORIGIN-004',
    level: 'MUST',
    section: '§12',
    title: '"A request without Origin is admitted on every transport, even with an allow-list"',
    async run(ctx) {
      // Without the kit's own --origin: what a Node client or a native app sends.
      const conn = ctx.track(await ctx.driver.open({ ...ctx.target, origin: undefined }));
      const peer = await Peer.handshake(conn, {}, ctx.ms(PROMPT_MS));
      await peer.bye();
    },
  },
  {
    id: 'V1-ORIGIN-001',
    level: 'MUST',
    section: '§12',
    title: 'a foreign Origin is refused "without processing frames": WebSocket close 4403, HTTP 403 and no link',
    needs: ['origin'],
    async run(ctx) {
      const foreign = 'https://foreign.conformance-kit.invalid';
      let conn;
      try {
        conn = await ctx.open({ Origin: foreign });
      } catch (err) {
        const refused = err instanceof CaseFailure && /HTTP 403/.test(err.got);
        check(refused, 'HTTP 403 for a foreign Origin', () => (err as Error).message);
        return;
      }
      await conn.send([hello()]);
      const first = await conn.until(
        () => conn.frames[0] ?? conn.ending ?? undefined,
        'a close for a foreign Origin',
        prompt(ctx),
      );
      check(
        !('t' in first) || first.t === 'close',
        'close 4403 for a foreign Origin',
        () => `${show(first)}: the hello was processed`,
      );
      const end = await conn.ended(prompt(ctx));
      check(end.frame?.code === 4403 || end.code === 4403, 'close 4403 for a foreign Origin', () => show(end));
    },
  },
];
