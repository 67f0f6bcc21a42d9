import { CaseFailure, check, show } from '../errors';
import { hello, parseFrame } from '../frames';
import { fetchText } from '../http';
import { linkUrl } from '../transports/post';
import { PollConn } from '../transports/long-poll';
import { baseHeaders } from '../transports/types';
import type { Peer } from '../peer';
import type { Case, CaseContext } from './types';

const polls = (d: { polls: boolean }): boolean => d.polls;

/** The long-poll connection behind a long-poll case. */
function pollConn(conn: unknown): PollConn {
  if (!(conn instanceof PollConn)) throw new CaseFailure('a long-poll link', 'another kind of connection');
  return conn;
}

/** A session on a long-poll link whose own polling loop is stopped: the case polls by hand. */
async function manual(ctx: CaseContext): Promise<{ p: Peer; conn: PollConn }> {
  const p = await ctx.connect();
  const conn = pollConn(p.conn);
  conn.pause();
  return { p, conn };
}

/** Times one poll. */
async function timed(conn: PollConn, wait: number, frames: object[] = []) {
  const started = Date.now();
  const reply = await conn.poll(wait, frames);
  return {
    ...reply,
    ms: Date.now() - started,
    frames: reply.body
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => parseFrame(l)),
  };
}

/** §14.4 long-poll links. */
export const longPollCases: Case[] = [
  {
    id: 'V1-POLL-001',
    level: 'MUST',
    section: '§14.4',
    title: 'a long-poll link opens with 200 application/x-ndjson carrying the link frame; "wait=0 answers at once"',
    applies: polls,
    async run(ctx) {
      const conn = pollConn(await ctx.open());
      conn.pause();
      const type = String(conn.opening.headers['content-type'] ?? '');
      check(type.startsWith('application/x-ndjson'), 'Content-Type: application/x-ndjson', () => show(type));
      const r = await timed(conn, 0);
      check(r.status === 200 && r.body === '', 'HTTP 200 with an empty body', () => `HTTP ${r.status} ${show(r.body)}`);
      check(r.ms < ctx.ms(2000), 'an answer at once', () => `${r.ms} ms`);
    },
  },
  {
    id: 'V1-POLL-002',
    level: 'MUST',
    section: '§14.4',
    title:
      'a poll "holds the response until at least one frame is queued for the link, or until min(wait, pollTimeout)"',
    applies: polls,
    needs: ['app'],
    async run(ctx) {
      const { p, conn } = await manual(ctx);
      // A ping of the server's heartbeat may answer a quiet poll early; the next one is quiet.
      let quiet = await timed(conn, 800);
      for (
        let i = 0;
        i < 2 && quiet.status === 200 && quiet.frames.length > 0 && quiet.frames.every((f) => f?.t === 'ping');
        i++
      )
        quiet = await timed(conn, 800);
      check(
        quiet.status === 200 && quiet.body === '' && quiet.ms >= 600,
        'an empty answer after about 800 ms',
        () => `HTTP ${quiet.status} after ${quiet.ms} ms: ${show(quiet.body)}`,
      );
      const held = conn.poll(ctx.ms(10_000));
      await p.push(1);
      const r = await held;
      check(
        r.status === 200 && /"push"/.test(r.body),
        'the held poll answered with the pushed message',
        () => `HTTP ${r.status} ${show(r.body)}`,
      );
    },
  },
  {
    id: 'V1-POLL-003',
    level: 'MUST',
    section: '§14.4',
    title: '"A new poll while one is held answers the held one at once with whatever is queued ... and takes over"',
    applies: polls,
    needs: ['app'],
    async run(ctx) {
      const { p, conn } = await manual(ctx);
      const first = timed(conn, ctx.ms(20_000));
      // Two requests on two sockets: give the first a head start so it is the one held.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const second = conn.poll(ctx.ms(20_000));
      const a = await first;
      check(
        a.status === 200 && a.ms < ctx.ms(10_000),
        'the first poll answered when the second came',
        () => `HTTP ${a.status} after ${a.ms} ms`,
      );
      await p.push(1);
      const b = await second;
      check(
        /"push"/.test(b.body),
        'the second poll answered with the pushed message',
        () => `HTTP ${b.status} ${show(b.body)}`,
      );
    },
  },
  {
    id: 'V1-POLL-004',
    level: 'MUST',
    section: '§14.7',
    title: '"400 ... bad wait, wait on a stream link"',
    applies: polls,
    async run(ctx) {
      const conn = pollConn(await ctx.open());
      conn.pause();
      const bad = await fetchText(linkUrl(ctx.target, conn.linkId!) + '&wait=soon', {
        method: 'POST',
        headers: baseHeaders(ctx.target),
        body: '',
      });
      check(bad.status === 400, 'HTTP 400 for wait=soon', () => `HTTP ${bad.status}`);
    },
  },
  {
    id: 'V1-POLL-005',
    level: 'MUST',
    section: '§14.4',
    title: 'frames for a poll whose client has gone "must not count as delivered": they come in the next poll',
    applies: polls,
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      const conn = pollConn(p.conn);
      await p.say('settle'); // the loop's poll is now held, the echo answered it and the next one is held
      await p.echoOf('settle');
      conn.pause(); // aborts the held poll
      await p.push(3);
      conn.resume();
      const got = await p.pushed(3);
      const seqs = got.map(([s]) => s).join();
      check(seqs === '2,3,4', 'seqs 2, 3, 4 (nothing lost with the aborted poll)', () => `seqs ${seqs}`);
    },
  },
  {
    id: 'V1-POLL-006',
    level: 'MUST',
    section: '§14.4',
    title:
      '"When the server closes the link it queues the close frame, answers ... the next poll with it, then forgets the link"',
    applies: polls,
    needs: ['app'],
    async run(ctx) {
      const { p, conn } = await manual(ctx);
      await p.closeBy(4403, 'closing with no poll held');
      const r = await timed(conn, ctx.ms(5000));
      const close = r.frames.find((f) => f?.t === 'close');
      check(
        close?.code === 4403,
        'the next poll answered with the close frame 4403',
        () => `HTTP ${r.status} ${show(r.body)}`,
      );
      const after = await conn.poll(0);
      check(
        after.status === 404,
        'HTTP 404 for a poll after the close frame was delivered',
        () => `HTTP ${after.status}`,
      );
    },
  },
  {
    id: 'V1-POLL-007',
    level: 'SHOULD',
    section: '§14.4',
    title:
      "while a link's close frame waits for the next poll, a plain POST to it gets 404 and none of its frames is handled",
    applies: polls,
    needs: ['app'],
    async run(ctx) {
      const { p, conn } = await manual(ctx);
      await p.closeBy(4403, 'closing with no poll held');
      const r = await conn.send([{ t: 'msg', s: 2, d: ['late'] }]);
      check(r.status === 404, 'HTTP 404 for a plain POST to the closed link', () => `HTTP ${r.status}`);
    },
  },
  {
    id: 'V1-POLL-008',
    level: 'MUST',
    section: '§14.4',
    title: '"hello MAY ride in the body of the first poll": its answer carries welcome',
    applies: polls,
    async run(ctx) {
      const conn = pollConn(await ctx.open());
      conn.pause();
      const r = await timed(conn, ctx.ms(5000), [hello(ctx.target.token ? { token: ctx.target.token } : {})]);
      check(
        r.frames[0]?.t === 'welcome',
        'welcome in the answer to the poll carrying hello',
        () => `HTTP ${r.status} ${show(r.body)}`,
      );
      await conn.send([{ t: 'close', code: 1000, reason: 'case over' }]);
    },
  },
];
