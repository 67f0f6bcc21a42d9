// The built reference server (dist/server.js) in a process of its own, for the restart test:
//   node test/browser/server-process.mjs [port=0] [label] [storeDir]
// With storeDir, sessions are kept in fileSessionStore(storeDir): a process started on the same
// directory after a SIGKILL restores them (and the page resumes its session).
// Listens on 127.0.0.1 and prints one JSON line per event on stdout, written synchronously so
// that nothing logged is lost when the process is killed with SIGKILL:
//   { ev: 'listening', port, label }     once listening
//   { ev: 'session', sid }               a new session
//   { ev: 'restore', sid }               a session restored from storeDir
//   { ev: 'push', sid, i }               after session.send of push i
//   { ev: 'recv', sid, pid, tag, i }     an app message { pid, tag, i } (echoed as { echo: data })
//   { ev: 'again', sid, seq }            a message delivered again after a crash, skipped
// With storeDir the app is idempotent, as the protocol asks of apps whose effects must happen
// once: its effect is a line appended to storeDir/app-<sid>.log with the message's seq, and a
// message whose seq that log already holds is skipped.
//   { ev: 'error', error }
// A page's { ctl: 'reg' } (sent on every new session) starts pushes { push: 'live', i, proc }
// every PUSH_MS (default 20) ms to that session, i from 0, proc = label; a restored session
// starts them when its client resumes.
import { appendFileSync, existsSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { fileSessionStore, RealtimeServer } from '../../dist/server.js';

const port = Number(process.argv[2] ?? 0);
const label = process.argv[3] ?? `pid${process.pid}`;
const storeDir = process.argv[4];
const pushMs = Number(process.env.PUSH_MS ?? 20);
const out = (event) => writeSync(1, `${JSON.stringify(event)}\n`);

const http = createServer((_req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
});
const rt = new RealtimeServer({
  server: http,
  path: '/realtime',
  sessionStore: storeDir ? fileSessionStore(storeDir) : undefined,
});
rt.on('error', (err) => out({ ev: 'error', error: String(err?.stack ?? err) }));
rt.on('connection', (session) => {
  out({ ev: 'session', sid: session.id });
  handle(session);
});
rt.on('restore', (session) => {
  out({ ev: 'restore', sid: session.id });
  const start = handle(session);
  session.once('resume', start);
});

/** Highest seq already applied per session, from the app's own log (so it survives a crash). */
const applied = new Map();
function appliedSeq(sid) {
  if (!applied.has(sid)) {
    const file = join(storeDir, `app-${sid}.log`);
    const lines = existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];
    applied.set(sid, lines.length ? JSON.parse(lines.at(-1)).seq : 0);
  }
  return applied.get(sid);
}

/** The app's handlers; returns a function that starts the pushes. */
function handle(session) {
  let timer;
  let n = 0;
  const start = () => {
    clearInterval(timer);
    timer = setInterval(() => {
      const i = n++;
      session.send({ push: 'live', i, proc: label });
      out({ ev: 'push', sid: session.id, i });
    }, pushMs);
  };
  session.on('message', (data, seq) => {
    if (data?.ctl === 'reg') return start();
    if (data?.ctl !== undefined) return;
    if (storeDir) {
      if (seq <= appliedSeq(session.id)) return out({ ev: 'again', sid: session.id, seq });
      appendFileSync(
        join(storeDir, `app-${session.id}.log`),
        `${JSON.stringify({ seq, proc: label, pid: data?.pid, tag: data?.tag, i: data?.i })}\n`,
      );
      applied.set(session.id, seq);
    }
    out({ ev: 'recv', sid: session.id, pid: data?.pid, tag: data?.tag, i: data?.i });
    session.send({ echo: data });
  });
  session.on('close', () => clearInterval(timer));
  return start;
}
http.listen(port, '127.0.0.1', () => out({ ev: 'listening', port: http.address().port, label }));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
