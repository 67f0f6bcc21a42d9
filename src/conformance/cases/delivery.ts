import { CaseFailure, check, show } from '../errors';
import type { Case } from './types';
import { closedWith, expectEnded, pad, prompt } from './util';

/** A payload with what JSON codecs get wrong: {} vs [], -0 vs 0, 1.0, big integers, unicode, escapes. */
const TRICKY = {
  empty: {},
  list: [],
  nested: [[{ a: null }]],
  int: 9007199254740991,
  neg: -1,
  frac: 0.5,
  s: 'é\u2028😀"\\/<',
  t: true,
  f: false,
  n: null,
};

/** §6 sequence numbers and delivery, §7 acknowledgements. */
export const deliveryCases: Case[] = [
  {
    id: 'V1-SEQ-001',
    level: 'MUST',
    section: '§6',
    title: '"the first message is 1, each next message is +1, with no gaps", in order',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.push(5);
      const got = await p.pushed(5);
      const seqs = got.map(([s]) => s).join();
      const order = got.map(([, d]) => d.push).join();
      check(
        seqs === '1,2,3,4,5' && order === '1,2,3,4,5',
        'seqs 1-5 carrying pushes 1-5',
        () => `seqs ${seqs} carrying ${order}`,
      );
    },
  },
  {
    id: 'V1-SEQ-002',
    level: 'MUST',
    section: '§6',
    title: '"A frame made only of duplicates is ignored"',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.say('once');
      await p.echoOf('once');
      await p.conn.send([{ t: 'msg', s: 1, d: ['once'] }]);
      await p.say('marker');
      const echoes = await p.echoOf('marker');
      check(echoes.join() === 'once,marker', '"once" echoed once, then "marker"', () => show(echoes));
    },
  },
  {
    id: 'V1-SEQ-003',
    level: 'MUST',
    section: '§6',
    title: 'dedupe of overlapping resends: "the first received + 1 − S entries ... are duplicates: drop them silently"',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.conn.send([{ t: 'msg', s: 1, d: ['x', 'y'] }]);
      await p.conn.send([{ t: 'msg', s: 2, d: ['y', 'z'] }]);
      await p.conn.send([{ t: 'msg', s: 4, d: ['end'] }]);
      const echoes = await p.echoOf('end');
      check(echoes.join() === 'x,y,z,end', 'x, y, z, end each echoed once', () => show(echoes));
    },
  },
  {
    id: 'V1-SEQ-004',
    level: 'MUST',
    section: '§6',
    title: 'a gap ("seq from the future"): "The server closes with 4400 (and ends the session)"',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.say('one');
      await p.echoOf('one');
      await p.conn.send([{ t: 'msg', s: 5, d: ['five'] }]);
      await closedWith(p.conn, 4400, ctx);
      await expectEnded(ctx, p);
    },
  },
  {
    id: 'V1-SEQ-005',
    level: 'MUST',
    section: '§2',
    title: '"Payloads (d entries) MUST be delivered exactly as sent: a JSON value in, the same JSON value out"',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.say(TRICKY, 'marker');
      const echoes = await p.echoOf('marker');
      check(JSON.stringify(echoes[0]) === JSON.stringify(TRICKY), show(TRICKY), () => show(echoes[0]));
    },
  },
  {
    id: 'V1-ACK-001',
    level: 'MUST',
    section: '§7',
    title: '"Each side piggybacks a = its current received on every msg, ping and pong frame it sends"',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.say('ack-me');
      await p.echoOf('ack-me');
      const echo = p.conn.frames.find((f) => f.t === 'msg')!;
      check(echo.a === 1, 'a: 1 on the msg frame carrying the echo', () => `a: ${show(echo.a)}`);
      await p.conn.send([{ t: 'ping', a: p.conn.received }]);
      const pong = await p.frame('pong');
      check(pong.a === 1, 'a: 1 on the pong', () => `a: ${show(pong.a)}`);
    },
  },
  {
    id: 'V1-ACK-002',
    level: 'MUST',
    section: '§7',
    title:
      '"An ack value a is cumulative: I have every message up to and including a": never ahead of what was delivered',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      const ahead = (): undefined => {
        const bad = p.conn.frames.find((f) => typeof f.a === 'number' && f.t !== 'welcome' && f.a > p.sent);
        if (bad) throw new CaseFailure(`acks of at most ${p.sent}, the messages sent so far`, show(bad));
        return undefined;
      };
      await p.say('first');
      await p.conn.until(
        () => ahead() ?? (p.echoes().includes('first') ? true : undefined),
        'the echo of "first"',
        prompt(ctx),
      );
      await p.say('second');
      await p.conn.until(
        () => ahead() ?? (p.echoes().includes('second') ? true : undefined),
        'the echo of "second"',
        prompt(ctx),
      );
    },
  },
  {
    id: 'V1-ACK-003',
    level: 'SHOULD',
    section: '§7',
    title:
      'a standalone ack "when received messages are still unacknowledged and nothing else went out within ackDelay"',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.push(0); // a message the application answers with nothing
      const ack = await p.frame('ack');
      check(ack.a === 1, '{"t":"ack","a":1}', () => show(ack));
    },
  },
  {
    id: 'V1-ACK-004',
    level: 'MUST',
    section: '§7',
    title: '"An ack lower than one already received is ignored"',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.push(3);
      await p.pushed(3);
      await p.conn.send([
        { t: 'ack', a: 3 },
        { t: 'ack', a: 1 },
      ]);
      await p.say('still-open');
      await p.echoOf('still-open');
    },
  },
  {
    id: 'V1-ACK-005',
    level: 'MUST',
    section: '§7',
    title:
      'an ack from the future: "greater than the highest sequence number the server has sent is a protocol error: the server closes with 4400"',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.push(1);
      await p.pushed(1);
      await p.conn.send([{ t: 'ack', a: 5 }]);
      await closedWith(p.conn, 4400, ctx);
    },
  },
  {
    id: 'V1-BATCH-001',
    level: 'SHOULD',
    section: '§9',
    title: '"Several messages sent in the same turn of the event loop SHOULD go out as one msg frame"',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.push(5);
      await p.pushed(5);
      const frames = p.conn.frames.filter(
        (f) =>
          f.t === 'msg' &&
          Array.isArray(f.d) &&
          f.d.some((d: unknown) => typeof d === 'object' && d !== null && 'push' in d),
      );
      check(frames.length === 1, 'one msg frame carrying the 5 pushes', () => `${frames.length} frames`);
    },
  },
  {
    id: 'V1-BATCH-002',
    level: 'MUST',
    section: '§9',
    title: '"Batches are split so that every frame is ≤ max bytes, and ≤ the client\'s hello.max"',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect({ max: 1024 });
      await p.push(10, 300);
      const got = await p.pushed(10);
      check(got.map(([, d]) => d.push).join() === '1,2,3,4,5,6,7,8,9,10', 'pushes 1-10 in order', () =>
        got.map(([, d]) => d.push).join(),
      );
      check(p.conn.largest <= 1024, 'no frame over hello.max 1024', () => `a frame of ${p.conn.largest} bytes`);
    },
  },
  {
    id: 'V1-BATCH-003',
    level: 'MUST',
    section: '§2',
    title:
      '"A server MUST NOT send a frame larger than ... the max of the hello that opened the connection", even for a message that cannot fit',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect({ max: 512 });
      await p.push(1, 1000);
      await p.say('marker');
      await p.echoOf('marker');
      check(p.conn.largest <= 512, 'no frame over hello.max 512', () => `a frame of ${p.conn.largest} bytes`);
    },
  },
  {
    id: 'V1-BATCH-004',
    level: 'MUST',
    section: '§9',
    title: '"a receiver MUST accept any valid batching": 100 messages in one frame',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      const many = Array.from({ length: 100 }, (_, i) => `m${i + 1}`);
      await p.say(...many);
      const echoes = await p.echoOf('m100');
      check(echoes.join() === many.join(), 'm1 … m100 echoed in order', () => show(echoes));
    },
  },
  {
    id: 'V1-LIMIT-001',
    level: 'MUST',
    section: '§2',
    title:
      '"A server that receives one [a frame larger than max] MUST close the connection with code 4413", and the session ends (§11)',
    timeout: 20_000,
    async run(ctx) {
      const p = await ctx.connect();
      const max = p.welcome.max as number;
      const frame = (n: number): string => `{"t":"msg","s":1,"d":["${pad(n)}"]}`;
      const overhead = frame(0).length;
      await p.conn.send([frame(max + 1 - overhead)]);
      await closedWith(p.conn, 4413, ctx);
      await expectEnded(ctx, p);
    },
  },
];
