// One node of the multi-process tests (cluster-nodes.test.ts): the built reference server
// (dist/server.js) with its sessions in Redis (dist/server-redis.js), on its own node:http server,
// started by test/services/node-processes.ts (PORT, NODE_NAME; ready at {"ev":"listening"}).
//
// Environment:
//   REDIS_URL      redis://host:port of one Redis, or
//   REDIS_NODES    host:port,host:port,... the seeds of a Redis Cluster
//   RT_OPTIONS     JSON of more RealtimeServer options (shorter timeouts, so a dead node is noticed soon)
//
// The app, and its contract with the tests:
//   - Every client message is applied once, by its seq: an entry {"seq","m","node","pid"} (m: the
//     message; node and pid: the process that applied it) is appended to the list
//     app:{<sid>}:log, and app:{<sid>}:seq holds the highest seq applied, both in one Lua script,
//     so the list holds each seq once and in order whatever the process that applies it and
//     however often it is delivered. A seq at or below app:{<sid>}:seq is skipped and reported,
//     unless it is this very apply run again: the connection to Redis dropped before its reply,
//     and ioredis sent it again after the reconnect (each apply has an id, kept in
//     app:{<sid>}:ops by seq, to tell the two apart).
//     The keys share the session's hash tag, so in a Redis Cluster they live with the session's.
//   - Only when newly applied, a message asks for an effect:
//       {"push":N,"from":K}  the app sends the client N messages {"p":K} .. {"p":K+N-1}, in order
//       {"drop":true}        the app drops the session's connection (session.disconnect()): the
//                            client reconnects through the balancer and resumes on whichever node
//                            it reaches
//   - stdout, one JSON line per event, written synchronously (nothing is lost to a SIGKILL):
//       {"ev":"listening","port","name"}   ready
//       {"ev":"attached","sid","client","how","at"}
//           a link of this node took the session: `how` is 'new' (a new session) or 'resume';
//           `at` is Date.now(); `client` is the `client` query parameter of the request that
//           opened the link (the test names its clients so, and finds each one's session by it)
//       {"ev":"again","sid","seq"}
//           a message delivered again, skipped: a correct server does that only when the process
//           that delivered it first died before the server recorded it
//       {"ev":"error","error"}             the server's 'error' event, or a failed apply
//
// Why the app uses the engine's own ioredis client (redisCluster({ client: redis })): the server
// delivers a message, records it (its 'commit' script), then acknowledges it. The app's record is
// written in the 'message' listener, before the server's commit is issued; on the same
// connection Redis runs them in that order, so an ack never covers a message whose record Redis
// does not hold. On a connection of its own, the app's write could land after the commit, and a
// node killed in between would have acknowledged a message it never applied.
import { createServer } from 'node:http';
import { Cluster, Redis } from 'ioredis';
import { RealtimeServer } from '../../dist/server.js';
import { redisCluster } from '../../dist/server-redis.js';
import { port, report, reportListening } from '../services/listening.mjs';

const name = process.env.NODE_NAME ?? `pid${process.pid}`;
const options = JSON.parse(process.env.RT_OPTIONS ?? '{}');

// The same reconnect policy as the engine's default: while Redis is away, commands wait in order.
const redisOptions = { retryStrategy: (times) => Math.min(times * 50, 1000) };
const redis = process.env.REDIS_NODES
  ? new Cluster(
      process.env.REDIS_NODES.split(',').map((hp) => ({
        host: hp.slice(0, hp.lastIndexOf(':')),
        port: Number(hp.slice(hp.lastIndexOf(':') + 1)),
      })),
      { redisOptions },
    )
  : new Redis(process.env.REDIS_URL, redisOptions);
redis.on('error', () => {}); // the engine reports outages on its own

// KEYS: highest seq applied, the log, apply ids by seq. ARGV: seq, entry, apply id. Returns 1
// applied now, 2 applied by this very call before (run again), 0 applied by an earlier delivery.
redis.defineCommand('appApply', {
  numberOfKeys: 3,
  lua: `
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) <= last then
  if redis.call('HGET', KEYS[3], ARGV[1]) == ARGV[3] then return 2 end
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return 1`,
});
let applies = 0;

const http = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n'));
// Not authentication: the hook sees the request that opened the link, whose URL names the client.
const clientName = (_token, req) => new URL(req.url ?? '/', 'http://node').searchParams.get('client') ?? 'unnamed';
const rt = new RealtimeServer({
  ...options,
  server: http,
  cluster: redisCluster({ client: redis }),
  authenticate: clientName,
});
rt.on('error', (err) => report({ ev: 'error', error: String(err?.stack ?? err) }));

function serve(session) {
  session.on('resume', () =>
    report({ ev: 'attached', sid: session.id, client: session.auth, how: 'resume', at: Date.now() }),
  );
  session.on('message', (m, seq) => {
    const sid = session.id;
    const entry = JSON.stringify({ seq, m, node: name, pid: process.pid });
    redis
      .appApply(`app:{${sid}}:seq`, `app:{${sid}}:log`, `app:{${sid}}:ops`, seq, entry, `${process.pid}:${++applies}`)
      .then(
        (applied) => {
          if (applied === 0) return report({ ev: 'again', sid, seq });
          if (typeof m?.push === 'number') for (let k = m.from; k < m.from + m.push; k++) session.send({ p: k });
          if (m?.drop === true) session.disconnect();
        },
        (err) => report({ ev: 'error', error: `apply ${sid} seq ${seq}: ${err}` }),
      );
  });
}

rt.on('connection', (session) => {
  report({ ev: 'attached', sid: session.id, client: session.auth, how: 'new', at: Date.now() });
  serve(session);
});
// A session created or last served by another node, now served here too ('resume' follows).
rt.on('restore', serve);

http.listen(port, '127.0.0.1', () => reportListening(http, { name }));
// A stop is the end of a test: no graceful close (it would end every session in Redis).
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
