import { randomBytes } from 'node:crypto';
import { check, show } from '../errors';
import { isBase64UrlWithBits } from '../frames';
import type { Case } from './types';
import { checkNewSession, checkResumed, cut, prompt, resume } from './util';

/** §5 Sessions and resume. */
export const sessionCases: Case[] = [
  {
    id: 'V1-SESSION-001',
    level: 'MUST',
    section: '§5',
    title: '"sid and key MUST each carry at least 128 bits", base64url, independent, new for every session',
    async run(ctx) {
      const a = await ctx.connect();
      const b = await ctx.connect();
      for (const p of [a, b]) {
        check(isBase64UrlWithBits(p.sid, 128), 'a sid of ≥ 128 bits in base64url (≥ 22 characters)', () => show(p.sid));
        check(
          isBase64UrlWithBits(p.key, 128),
          'a key of ≥ 128 bits in base64url (≥ 22 characters)',
          () => `${p.key.length} characters`,
        );
        check(p.sid !== p.key, 'sid and key independent', () => 'the same value');
      }
      check(a.sid !== b.sid && a.key !== b.key, 'a new sid and key for each session', () => 'a repeated value');
    },
  },
  {
    id: 'V1-RESUME-001',
    level: 'MUST',
    section: '§5',
    title:
      'a hello with sid, key and a resumes: resumed true, the same sid, welcome.a = the highest client seq received',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.say('r1', 'r2');
      await p.echoOf('r2');
      await cut(p, ctx);
      const q = await resume(ctx, p);
      checkResumed(q.welcome, p);
      check(q.welcome.a === 2, 'welcome.a = 2', () => show(q.welcome.a));
    },
  },
  {
    id: 'V1-RESUME-002',
    level: 'MUST',
    section: '§5',
    title:
      '"retransmits, in order, every message it still holds with sequence number > hello.a", and nothing at or below it',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      p.conn.autoPong = false; // a pong would acknowledge all five
      await p.push(5);
      await p.pushed(5);
      await cut(p, ctx);
      const q = await resume(ctx, p, 2);
      checkResumed(q.welcome, p);
      const first = await q.frame('msg');
      check(first.s === 3, 'the replay to start at seq 3 (hello.a + 1)', () => `a msg frame with s ${show(first.s)}`);
      const got = await q.pushed(3);
      const seqs = got.map(([s]) => s);
      const numbers = got.map(([, d]) => d.push);
      check(
        seqs.join() === '3,4,5' && numbers.join() === '3,4,5',
        'seqs 3, 4, 5 carrying pushes 3, 4, 5',
        () => `seqs ${seqs.join(', ')} carrying ${numbers.join(', ')}`,
      );
    },
  },
  {
    id: 'V1-RESUME-003',
    level: 'MUST',
    section: '§5',
    title:
      '"key matches (constant-time)": a resume with a wrong key gets a new session and none of the old one\'s messages',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      p.conn.autoPong = false;
      await p.push(2);
      await p.pushed(2);
      await cut(p, ctx);
      const wrong = (p.key[0] === 'A' ? 'B' : 'A') + p.key.slice(1);
      const q = await ctx.connect({ sid: p.sid, key: wrong, a: 0 });
      checkNewSession(q.welcome, p);
      await q.say('mine');
      await q.echoOf('mine');
      check(q.messages().length === 1, 'only the echo in the new session', () => show(q.messages()));
    },
  },
  {
    id: 'V1-RESUME-004',
    level: 'MUST',
    section: '§5',
    title: '"missing ... key": a hello with sid and no key gets a new session',
    async run(ctx) {
      const p = await ctx.connect();
      await cut(p, ctx);
      const q = await ctx.connect({ sid: p.sid, a: 0 });
      checkNewSession(q.welcome, p);
    },
  },
  {
    id: 'V1-RESUME-005',
    level: 'MUST',
    section: '§5',
    title: '"not greater than the highest sequence number the server has sent": hello.a beyond it gets a new session',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.push(2);
      await p.pushed(2);
      await cut(p, ctx);
      const q = await resume(ctx, p, 3);
      checkNewSession(q.welcome, p);
    },
  },
  {
    id: 'V1-RESUME-006',
    level: 'MUST',
    section: '§5',
    title:
      '"not less than the highest ack the server already got": a gap that cannot be filled gets a new session (session-lost)',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.push(3);
      await p.pushed(3);
      await p.conn.send([{ t: 'ack', a: 3 }]);
      await p.say('after-ack'); // its echo proves the ack was handled: frames are handled in order
      await p.echoOf('after-ack');
      await cut(p, ctx);
      const q = await resume(ctx, p, 1);
      checkNewSession(q.welcome, p);
    },
  },
  {
    id: 'V1-RESUME-007',
    level: 'MUST',
    section: '§5',
    title: '"unknown sid": a resume of a session that never existed gets a new session',
    async run(ctx) {
      const p = await ctx.connect({
        sid: randomBytes(18).toString('base64url'),
        key: randomBytes(18).toString('base64url'),
        a: 0,
      });
      check(p.welcome.resumed === false && p.welcome.a === 0, 'resumed: false, a: 0', () =>
        show({ resumed: p.welcome.resumed, a: p.welcome.a }),
      );
    },
  },
  {
    id: 'V1-RESUME-008',
    level: 'MUST',
    section: '§5',
    title:
      '"the server closes the old connection ... without a close frame" when a resume replaces it; the new one carries the session',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      const q = await resume(ctx, p);
      checkResumed(q.welcome, p);
      const end = await p.conn.gone(prompt(ctx));
      check(end.frame === undefined, 'no close frame on the replaced connection', () => show(end.frame));
      await q.say('on-new');
      await q.echoOf('on-new');
    },
  },
  {
    id: 'V1-RESUME-009',
    level: 'MUST',
    section: '§5',
    title: 'after a resume the client retransmits with the original seqs: "The server drops the ones it already has"',
    needs: ['app'],
    async run(ctx) {
      const p = await ctx.connect();
      await p.say('a', 'b');
      await p.echoOf('b');
      await cut(p, ctx);
      const q = await resume(ctx, p);
      checkResumed(q.welcome, p);
      await q.conn.send([
        { t: 'msg', s: 1, d: ['a', 'b'] },
        { t: 'msg', s: 3, d: ['c'] },
      ]);
      const echoes = await q.echoOf('c');
      check(echoes.join() === 'c', 'only "c" echoed after the resume', () => show(echoes));
    },
  },
];
