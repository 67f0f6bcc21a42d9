import { check, show } from '../errors';
import type { Case } from './types';
import { closedWith, expectEnded, prompt } from './util';

/** The fields of each frame a server sends (§3). */
const FIELDS: Record<string, string[]> = {
  welcome: ['t', 'v', 'sid', 'key', 'resumed', 'a', 'hb', 'max', 'transports'],
  msg: ['t', 's', 'd', 'a'],
  ack: ['t', 'a'],
  ping: ['t', 'a'],
  pong: ['t', 'a'],
  close: ['t', 'code', 'reason'],
};

/** A text frame whose `t` is an array nested `depth` deep: small, and fatal to a server that stringifies it (§2). */
const deep = (depth: number): string => `{"t":${'['.repeat(depth)}${']'.repeat(depth)}}`;

/** A bad frame after welcome closes with 4400 and ends the session. */
function badFrame(id: string, title: string, frame: string): Case {
  return {
    id,
    level: 'MUST',
    section: '§2',
    title,
    async run(ctx) {
      const p = await ctx.connect();
      await p.conn.send([frame]);
      await closedWith(p.conn, 4400, ctx);
      await expectEnded(ctx, p);
    },
  };
}

/** §2 and §13: what a server must do with bad frames. */
export const inputCases: Case[] = [
  badFrame(
    'V1-FRAME-001',
    'malformed JSON: "A frame that is not valid JSON ... is a protocol error: the receiving server closes with 4400"',
    '{"t":"msg",',
  ),
  badFrame('V1-FRAME-002', '"has a t that is ... unknown" is a protocol error (4400)', '{"t":"subscribe","a":0}'),
  badFrame('V1-FRAME-003', '"The top level MUST be an object": an array is a protocol error (4400)', '[{"t":"ping"}]'),
  badFrame(
    'V1-FRAME-004',
    '"has a field of the wrong type" is a protocol error (4400): s as a string',
    '{"t":"msg","s":"1","d":["x"]}',
  ),
  badFrame('V1-FRAME-005', '"lacks a required field" is a protocol error (4400): an ack without a', '{"t":"ack"}'),
  {
    id: 'V1-FRAME-006',
    level: 'MUST',
    section: '§2',
    title:
      '"A receiver MUST check a value\'s type before using it": t nested 4,000 arrays deep gets 4400, and the server lives on',
    async run(ctx) {
      const p = await ctx.connect();
      await p.conn.send([deep(4000)]);
      await closedWith(p.conn, 4400, ctx);
      await ctx.connect();
    },
  },
  {
    id: 'V1-FRAME-007',
    level: 'MUST',
    section: '§2',
    title: '"Receivers MUST ignore fields they do not know": in hello and in msg',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect({ future: { nested: [1] } });
      await p.conn.send([{ t: 'msg', s: 1, d: ['known'], later: true }]);
      p.sent = 1;
      const echoes = await p.echoOf('known');
      check(echoes.join() === 'known', 'the echo of "known"', () => show(echoes));
    },
  },
  {
    id: 'V1-FRAME-008',
    level: 'MUST',
    section: '§13',
    title: '"A binary message is a protocol error (4400)"',
    applies: (d) => d.closeCodes,
    async run(ctx) {
      const p = await ctx.connect();
      p.conn.sendBinary?.(Buffer.from('{"t":"ping"}'));
      await closedWith(p.conn, 4400, ctx);
    },
  },
  {
    id: 'V1-FRAME-009',
    level: 'MUST',
    section: '§13',
    title: '"invalid UTF-8 closes with 4400, not 1007" (over HTTP: "Invalid UTF-8 is a protocol error (4400)", §14.3)',
    async run(ctx) {
      const p = await ctx.connect();
      const bytes = Buffer.concat([
        Buffer.from('{"t":"msg","s":1,"d":["'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('"]}'),
      ]);
      await p.conn.send([bytes]);
      await closedWith(p.conn, 4400, ctx);
    },
  },
  {
    id: 'V1-FRAME-011',
    level: 'MUST',
    section: '§2',
    title: '"Senders MUST NOT add fields not described here": every frame from the server has only the fields of §3',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.say('fields');
      await p.push(2);
      await p.pushed(2);
      await p.conn.send([{ t: 'ping', a: p.conn.received }]);
      await p.frame('pong');
      await p.closeBy(4403, 'fields');
      await p.conn.ended(prompt(ctx));
      for (const f of p.conn.frames) {
        const allowed = FIELDS[f.t];
        const extra = Object.keys(f).filter((k) => !allowed?.includes(k));
        check(
          allowed !== undefined && extra.length === 0,
          `only the fields of a ${f.t} frame`,
          () => `${show(extra)} in ${show(f)}`,
        );
      }
    },
  },
  badFrame(
    'V1-FRAME-010',
    '"s integer ≥ 1", "d non-empty array": a msg with an empty d is a protocol error (4400)',
    '{"t":"msg","s":1,"d":[]}',
  ),
];
