// @vitest-environment node
// Sessions in Redis (issue 11), for real: 3 server processes (cluster-node.mjs on the built
// dist/server.js and dist/server-redis.js, each its own node:http server on its own port), one
// Redis, a real nginx balancing round robin with no stickiness, and the real RealtimeClient in
// this process going through nginx, one transport forced per client. What a client sent is
// checked against what the app recorded in Redis (each seq once, in order: cluster-node.mjs says
// how), what it received against what was pushed, and nginx's access log says which node served
// each request. In-process servers with raw clients, for the server's side of the same rules:
// cluster.test.ts.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { RealtimeClient, type TransportName } from '../../src/index';
import { RealtimeServer } from '../../src/server/index';
import { redisCluster } from '../../src/server-redis';
import { serviceScope, type Nginx, type NodeProcess } from '../services';
import { nodeEnv } from './harness';
import { delay, waitFor } from '../wait';

const services = serviceScope({ needs: ['redis', 'nginx'] });
const script = fileURLToPath(new URL('./cluster-node.mjs', import.meta.url));
const TRANSPORTS: TransportName[] = ['websocket', 'sse', 'fetch-stream', 'long-poll'];

// The nodes run the built server: one older than its source would test old code.
beforeAll(() => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const newest = (dir: string): number =>
    Math.max(
      ...readdirSync(dir, { withFileTypes: true }).map((e) =>
        e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs,
      ),
    );
  const source = Math.max(
    newest(join(root, 'src/server')),
    statSync(join(root, 'src/server-redis.ts')).mtimeMs,
    newest(join(root, 'src/protocol')),
  );
  for (const file of ['dist/server.js', 'dist/server-redis.js']) {
    let built = 0;
    try {
      built = statSync(join(root, file)).mtimeMs;
    } catch {}
    if (built < source) throw new Error(`${file} is missing or older than src/: run \`npm run build\` first`);
  }
});

/**
 * The nodes' options: shorter than the defaults, so that a link whose node died is given up in
 * seconds (a poll relayed to a dead holder gets 404 after requestTimeout + pollTimeout + 5 s; a
 * silent link is dropped after 2 × heartbeatInterval), not in the minute the defaults allow.
 */
const NODE_OPTIONS = { heartbeatInterval: 2_000, requestTimeout: 5_000, pollTimeout: 3_000 };
/** The client notices a silent server after heartbeatInterval + this, and reconnects quickly. */
const CLIENT_OPTIONS = { heartbeat: { timeout: 2_000 }, reconnect: { initialDelay: 50, maxDelay: 500 } };
/** Long enough for a recovery from a killed node (a few seconds), with room on a busy machine. */
const RECOVERY_MS = 30_000;

type RedisTarget = { url: string } | { nodes: Array<{ host: string; port: number }> };

/** One entry of the app's record (cluster-node.mjs): client message `m`, applied once as `seq` by `node` (process `pid`). */
interface Applied {
  seq: number;
  m: unknown;
  node: string;
  pid: number;
}

/** 3 nodes on one Redis (or Redis Cluster) behind nginx; all stopped by pid after the test. */
async function startCluster(target: RedisTarget) {
  const redisEnv =
    'url' in target
      ? { REDIS_URL: target.url }
      : { REDIS_NODES: target.nodes.map((n) => `${n.host}:${n.port}`).join(',') };
  const nodes = await services.nodes(script, 3, { env: { ...redisEnv, RT_OPTIONS: JSON.stringify(NODE_OPTIONS) } });
  const lb = await services.nginx({ backends: nodes.map((n) => n.port) });
  // The test's own connection, to read what the app recorded.
  const redis = 'url' in target ? new Redis(target.url) : new Cluster(target.nodes);
  redis.on('error', () => {}); // Redis may be stopped on purpose; reads retry
  services.defer(() => redis.disconnect());

  /** Where each link of `client`'s session was attached, in the order the nodes reported it. */
  const attachments = (client: string) =>
    nodes
      .flatMap((node) =>
        node.events
          .filter((e) => e.ev === 'attached' && e.client === client)
          .map((e) => ({ node, sid: e.sid as string, how: e.how as string, at: e.at as number })),
      )
      .sort((x, y) => x.at - y.at);

  return {
    nodes,
    lb,
    attachments,
    /** The node whose link holds `client`'s session now: the last one that attached it. */
    holder(client: string): NodeProcess {
      const last = attachments(client).at(-1);
      if (!last) throw new Error(`${client} has no session yet`);
      return last.node;
    },
    /** Every session `client` had (one, when none was lost). */
    sessions: (client: string) => [...new Set(attachments(client).map((a) => a.sid))],
    /** The seqs of session `sid` the app was given again (and skipped), in the order reported. */
    again: (sid: string) =>
      nodes.flatMap((n) => n.events.filter((e) => e.ev === 'again' && e.sid === sid).map((e) => e.seq as number)),
    /** What the nodes reported on their 'error' event (for failure messages). */
    errors: () =>
      nodes.flatMap((n) =>
        n.events.filter((e) => e.ev === 'error').map((e) => `${n.name}: ${String(e.error).split('\n')[0]}`),
      ),
    /** What the app recorded for session `sid`, in order. */
    async applied(sid: string): Promise<Applied[]> {
      return (await redis.lrange(`app:{${sid}}:log`, 0, -1)).map((line) => JSON.parse(line) as Applied);
    },
    /** Requests of `client` per node (by name), from nginx's access log: each request names its client in the URL. */
    servedBy(client: string, which: (uri: string) => boolean = () => true): Record<string, number> {
      const byPort = lb.servedBy(lb.accessLog().filter((e) => e.uri.includes(`client=${client}`) && which(e.uri)));
      return Object.fromEntries(nodes.map((n) => [n.name, byPort.get(n.port) ?? 0]));
    },
  };
}

/** The real client through the balancer, one transport forced, and what happened to it. */
class Peer {
  readonly client: RealtimeClient;
  /** Every message sent, in order. */
  readonly sent: unknown[] = [];
  resolved = 0;
  readonly rejected: string[] = [];
  /** Every message received, in order. */
  readonly received: unknown[] = [];
  readonly opens: Array<{ resumed: boolean; at: number }> = [];
  /** Why each connection ended (code and reason), for the figures. */
  readonly closes: string[] = [];
  readonly errors: string[] = [];

  constructor(
    readonly name: string,
    readonly transport: TransportName,
    lb: Nginx,
  ) {
    // `client` names this client in every request (the nodes report it, nginx logs it); servers ignore query parameters they do not know.
    const url = `${transport === 'websocket' ? lb.wsUrl('/realtime') : `${lb.url}/realtime`}?client=${name}`;
    this.client = new RealtimeClient(url, { ...CLIENT_OPTIONS, transports: [transport], env: nodeEnv });
    this.client.on('message', (d) => this.received.push(d));
    this.client.on('open', (e) => this.opens.push({ resumed: e.resumed, at: Date.now() }));
    this.client.on('error', (e) => this.errors.push(`${e.code}: ${e.message}`));
    this.client.on('close', (e) => this.closes.push(`${e.code} ${e.reason}`));
    services.defer(() => this.client.close());
  }

  send(m: unknown): void {
    this.sent.push(m);
    this.client.send(m).then(
      () => this.resolved++,
      (e: Error) => this.rejected.push(String(e)),
    );
  }

  /** Sends neither resolved nor rejected yet. */
  get pending(): number {
    return this.sent.length - this.resolved - this.rejected.length;
  }

  /** How many `{ i }` data messages were sent. */
  get dataSent(): number {
    return this.sent.filter((m) => typeof (m as { i?: number }).i === 'number').length;
  }

  /** The numbers of the pushes `{ p }` received, in order. */
  get pushes(): number[] {
    return this.received.map((d) => (d as { p: number }).p);
  }
}

interface Workload {
  /** `{ i }` data messages, i from 0. */
  messages: number;
  /** At most this many send()s unresolved at a time: a stream of many frames, not one batch. */
  window: number;
  /** After every `pushEvery` data messages, ask the app for that many pushes (0: none). */
  pushEvery: number;
  /** After these data messages, ask the app to drop the connection (the client resumes through the balancer). */
  dropAfter?: number[];
}

/** Sends the workload, each message in its own task (so in its own frame when the link is free). */
async function sendAll(peer: Peer, w: Workload): Promise<void> {
  for (let i = 0; i < w.messages; i++) {
    if (peer.pending >= w.window)
      await waitFor(() => peer.pending < w.window, {
        what: `${peer.name}: room in the window`,
        timeout: RECOVERY_MS,
        retryErrors: true,
      });
    peer.send({ i });
    if (w.pushEvery && (i + 1) % w.pushEvery === 0) peer.send({ push: w.pushEvery, from: i + 1 - w.pushEvery });
    if (w.dropAfter?.includes(i)) peer.send({ drop: true });
    await new Promise((r) => setImmediate(r));
  }
}

/** Waits until every send() settled and `pushes` pushes arrived (or more: a duplicate fails the test after). */
async function settled(peer: Peer, pushes: number): Promise<void> {
  try {
    await waitFor(() => peer.pending === 0 && peer.received.length >= pushes, {
      what: `${peer.name}: every send() settled and ${pushes} pushes received`,
      timeout: RECOVERY_MS,
      retryErrors: true,
    });
  } catch (err) {
    // Where it stands when the wait gives up, not when it began.
    const state = `${peer.pending} sends pending, ${peer.received.length} of ${pushes} pushes received; client ${peer.client.state}, opens ${JSON.stringify(peer.opens)}, closes ${JSON.stringify(peer.closes)}, errors ${JSON.stringify(peer.errors)}`;
    throw new Error(`${(err as Error).message}: ${state}`);
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * Pushes from a process that is never killed: a RealtimeServer of this test process on the same
 * Redis, serving no requests, whose rt.broadcast() appends to every session of every node and
 * resolves once Redis has stored it (the node holding the link is woken to write it). A push made
 * by the app of a node that is then killed could be lost with it (made, not yet stored), which
 * would be the app's loss, not the server's; pushes from here are stored or refused, never lost
 * unseen, so every one must arrive exactly once.
 */
function startPusher(target: RedisTarget) {
  const rt = new RealtimeServer({ cluster: redisCluster(target) });
  services.defer(() => rt.close());
  const failures: string[] = [];
  return {
    failures,
    /**
     * Pushes { p: 0 } .. { p: count - 1 } to the `sessions` sessions in Redis, push k once `pace(k)`
     * (so the pushes go with the client's stream, and a kill meets both directions mid-stream).
     */
    async pushAll(count: number, sessions: number, pace: (k: number) => boolean): Promise<void> {
      for (let k = 0; k < count; k++) {
        if (!pace(k))
          await waitFor(() => pace(k), {
            what: `the stream to reach push ${k}`,
            timeout: RECOVERY_MS,
            retryErrors: true,
          });
        const got = await rt.broadcast({ p: k }).catch((err: Error) => `failed: ${err.message}`);
        if (got !== sessions) failures.push(`push ${k} reached ${got} sessions, not ${sessions}`);
      }
    },
  };
}

/** What one kill did: the node, where the stream was, and how long until it moved on both ways. */
interface Kill {
  node: string;
  pid: number;
  holder: boolean;
  atMessage: number;
  atPush: number;
  /** From the SIGKILL until 20 more sends resolved and 20 more pushes arrived. */
  recoveredMs: number;
  /** Connections the client opened meanwhile (resumes). */
  reopened: number;
  /** The node holding the session once it recovered. */
  resumedOn: string;
  /** From the SIGKILL until the node listened again. */
  restartMs: number;
}

/**
 * SIGKILLs `victim` mid-stream and starts it again on its port, either at once (the client may
 * recover on it as well as on the others) or only once the stream moved on (so it recovered on
 * another node: nothing else was up); resolves once the stream moved on both ways and the node is
 * back.
 */
async function killAndRestart(
  c: Awaited<ReturnType<typeof startCluster>>,
  peer: Peer,
  victim: NodeProcess,
  restart: 'at once' | 'after recovery',
): Promise<Kill> {
  const holder = c.holder(peer.name) === victim;
  const pid = victim.pid;
  const [opens, resolved, pushes] = [peer.opens.length, peer.resolved, peer.pushes.length];
  const began = Date.now();
  await victim.kill();
  const restartNow = () => victim.start().then(() => Date.now() - began);
  const restarted = restart === 'at once' ? restartNow() : undefined;
  await waitFor(() => peer.resolved >= resolved + 20 && peer.pushes.length >= pushes + 20, {
    what: `${peer.name}: the stream to move on after ${victim.name} was killed`,
    timeout: RECOVERY_MS,
    retryErrors: true,
  });
  const recoveredMs = Date.now() - began;
  return {
    node: victim.name,
    pid,
    holder,
    atMessage: resolved,
    atPush: pushes,
    recoveredMs,
    reopened: peer.opens.length - opens,
    resumedOn: c.holder(peer.name).name,
    restartMs: await (restarted ?? restartNow()),
  };
}

/**
 * Exactly once, in order, both ways, in one session: every send() resolved; the app recorded each
 * message the client sent once, in the order sent, as seqs 1, 2, 3, ...; the client received
 * pushes 0 .. pushes-1, each once, in order, and nothing else. The server gave the app a message
 * again only where the protocol allows it (docs/protocol.md §18): after the process that
 * delivered it first was killed (one of `killed`) before recording it.
 */
async function expectExactlyOnce(
  c: Awaited<ReturnType<typeof startCluster>>,
  peer: Peer,
  pushes: number,
  killed: number[] = [],
): Promise<void> {
  const sessions = c.sessions(peer.name);
  const why = `${peer.name}: client errors ${JSON.stringify(peer.errors)}, opens ${JSON.stringify(peer.opens)}, sessions ${JSON.stringify(sessions)}, node errors ${JSON.stringify(c.errors())}`;
  expect(peer.rejected, why).toEqual([]);
  expect(peer.resolved, why).toBe(peer.sent.length);
  expect(sessions, why).toHaveLength(1);
  expect(
    peer.opens.slice(1).filter((o) => !o.resumed),
    why,
  ).toEqual([]);
  const applied = await c.applied(sessions[0]!);
  expect(
    applied.map((a) => a.seq),
    why,
  ).toEqual(range(peer.sent.length).map((i) => i + 1));
  expect(
    applied.map((a) => a.m),
    why,
  ).toEqual(peer.sent);
  expect(peer.pushes, why).toEqual(range(pushes));
  const again = c.again(sessions[0]!).map((seq) => ({ seq, firstBy: applied[seq - 1]?.pid }));
  expect(
    again.filter((x) => !killed.includes(x.firstBy!)),
    `${why}; delivered again: ${JSON.stringify(again)}, killed: ${JSON.stringify(killed)}`,
  ).toEqual([]);
}

describe.each(TRANSPORTS)('3 nodes behind nginx, transport %s', (transport) => {
  it('2,000 messages each way, requests spread over the nodes: exactly once, in order, every send() resolved', async () => {
    const redis = await services.redis();
    const c = await startCluster({ url: redis.url });
    const peer = new Peer(`plain-${transport}`, transport, c.lb);
    const w: Workload = { messages: 2_000, window: 20, pushEvery: 20 };
    // A WebSocket is one request for as long as it lives: the app drops it 3 times, so the session
    // resumes through the balancer on other nodes.
    if (transport === 'websocket') w.dropAfter = [499, 999, 1_499];
    const began = Date.now();
    await sendAll(peer, w);
    await settled(peer, 2_000);
    const took = Date.now() - began;
    await expectExactlyOnce(c, peer, 2_000);

    // One session, its requests on every node: the test cannot pass by stickiness.
    const nodesUsed = new Set(c.attachments(peer.name).map((a) => a.node.name));
    let served: Record<string, number>;
    if (transport === 'websocket') {
      // Each upgrade is logged when its WebSocket closes: the dropped ones, one after the other on
      // the next node.
      served = c.servedBy(peer.name);
      for (const [node, n] of Object.entries(served)) expect(n, `upgrades served by ${node}`).toBeGreaterThanOrEqual(1);
      expect(nodesUsed.size, `links attached on ${[...nodesUsed].join(',')}`).toBe(3);
    } else {
      // The POSTs (and polls) of the link, by nginx's log: round robin sends each to the next
      // node, and each was answered as if it had reached the link's own (relayed there).
      const linkRequests = c.lb
        .accessLog()
        .filter((e) => e.uri.includes(`client=${peer.name}`) && e.uri.includes('link='));
      expect(linkRequests.filter((e) => e.status >= 300).map((e) => `${e.status} ${e.method} ${e.uri}`)).toEqual([]);
      expect(peer.opens).toHaveLength(1); // one link, never dropped
      served = c.servedBy(peer.name, (uri) => uri.includes('link='));
      const total = Object.values(served).reduce((x, y) => x + y, 0);
      for (const [node, n] of Object.entries(served))
        expect(n, `${node} served ${n} of ${total} requests`).toBeGreaterThanOrEqual(total / 5);
    }
    console.log(
      `[cluster-nodes] ${transport}: 2000 messages each way in ${took} ms; requests per node ${JSON.stringify(served)}; links attached on ${[...nodesUsed].join(', ')}`,
    );
  }, 120_000);
});

describe.each(TRANSPORTS)('3 nodes behind nginx, a node SIGKILLed, transport %s', (transport) => {
  it('2,000 messages each way while a node is SIGKILLed mid-stream and restarted, twice: exactly once, in order', async () => {
    const redis = await services.redis();
    const c = await startCluster({ url: redis.url });
    const peer = new Peer(`kill-${transport}`, transport, c.lb);
    const pusher = startPusher({ url: redis.url });
    const N = 2_000;
    let sendingDone = false;
    const sending = sendAll(peer, { messages: N, window: 20, pushEvery: 0 }).finally(() => (sendingDone = true));
    // Push k goes once the client has sent k messages: both directions stream together.
    const pushing = pusher.pushAll(N, 1, (k) => sendingDone || (peer.dataSent > k && peer.opens.length > 0));
    const began = Date.now();
    const kills: Kill[] = [];
    // First the node holding the session's link, restarted only once the stream moved on (so the
    // session must have resumed elsewhere: a restart at once let a slow CI's client resume on the
    // restarted node itself); then, over HTTP, a node that does not hold it (its relayed requests in
    // flight die with it), over WebSocket the new holder (a WebSocket session has no requests
    // elsewhere), restarted at once.
    await waitFor(() => peer.dataSent >= N / 3, {
      what: 'a third of the stream',
      timeout: RECOVERY_MS,
      retryErrors: true,
    });
    kills.push(await killAndRestart(c, peer, c.holder(peer.name), 'after recovery'));
    await waitFor(() => peer.dataSent >= (2 * N) / 3, {
      what: 'two thirds of the stream',
      timeout: RECOVERY_MS,
      retryErrors: true,
    });
    const holder = c.holder(peer.name);
    const second = transport === 'websocket' ? holder : c.nodes.find((n) => n !== holder)!;
    kills.push(await killAndRestart(c, peer, second, 'at once'));
    await Promise.all([sending, pushing]);
    await settled(peer, N);
    const took = Date.now() - began;

    expect(pusher.failures).toEqual([]);
    await expectExactlyOnce(
      c,
      peer,
      N,
      kills.map((k) => k.pid),
    );
    // The holder's death moved the session: resumed (no session lost) on another node.
    expect(kills[0]!.holder).toBe(true);
    expect(kills[0]!.reopened).toBeGreaterThanOrEqual(1);
    expect(kills[0]!.resumedOn).not.toBe(kills[0]!.node);
    console.log(
      `[cluster-nodes] ${transport}, 2 kills: ${N} messages each way in ${took} ms; kills ${JSON.stringify(kills)}; requests per node ${JSON.stringify(c.servedBy(peer.name))}`,
    );
  }, 120_000);
});

describe('3 nodes behind nginx, WebSocket failover', () => {
  it('a WebSocket session opened on node A resumes on node B after A dies, messages in flight both ways', async () => {
    const redis = await services.redis();
    const c = await startCluster({ url: redis.url });
    const peer = new Peer('failover', 'websocket', c.lb);
    const pusher = startPusher({ url: redis.url });
    const N = 600;
    let sendingDone = false;
    const sending = sendAll(peer, { messages: N, window: 20, pushEvery: 0 }).finally(() => (sendingDone = true));
    const pushing = pusher.pushAll(N, 1, (k) => sendingDone || (peer.dataSent > k && peer.opens.length > 0));
    await waitFor(() => peer.dataSent >= N / 2, { what: 'half the stream', timeout: RECOVERY_MS, retryErrors: true });
    const [first] = c.attachments(peer.name);
    const a = first!.node;
    expect(first!.how).toBe('new');
    expect(c.holder(peer.name)).toBe(a); // still on A: nothing moved it before the kill
    const killedAt = Date.now();
    const killedPid = a.pid;
    await a.kill();
    await waitFor(() => peer.opens.length === 2, {
      what: 'the client to reopen',
      timeout: RECOVERY_MS,
      retryErrors: true,
    });
    const reopenedMs = Date.now() - killedAt;
    await Promise.all([sending, pushing]);
    await settled(peer, N);

    // B took the same session, as a resume, after A died; the client was told it resumed.
    const later = c.attachments(peer.name).filter((x) => x.at >= killedAt);
    expect(later.map((x) => [x.sid, x.how])).toEqual([[first!.sid, 'resume']]);
    const b = later[0]!.node;
    expect(b).not.toBe(a);
    expect(peer.opens.map((o) => o.resumed)).toEqual([false, true]);
    // nginx agrees: the first upgrade was served by A (logged when A's death closed it).
    const upgrades = c.lb.accessLog().filter((e) => e.uri.includes('client=failover') && e.upgrade === 'websocket');
    expect(upgrades[0]?.upstreamPort).toBe(a.port);
    expect(pusher.failures).toEqual([]);
    await expectExactlyOnce(c, peer, N, [killedPid]);
    console.log(
      `[cluster-nodes] websocket failover: ${a.name} killed after ${N / 2} messages; resumed on ${b.name} in ${reopenedMs} ms`,
    );
  }, 60_000);
});

describe('3 nodes behind nginx, Redis down', () => {
  it('Redis (appendonly) stopped for 2 s mid-stream and started again: nothing lost, nothing duplicated, every transport at once', async () => {
    const redis = await services.redis({ persistence: 'aof' });
    const c = await startCluster({ url: redis.url });
    const N = 1_000;
    const peers = TRANSPORTS.map((t) => new Peer(`redis-down-${t}`, t, c.lb));
    const began = Date.now();
    const sending = Promise.all(peers.map((p) => sendAll(p, { messages: N, window: 20, pushEvery: 20 })));
    await waitFor(() => peers.every((p) => p.dataSent >= N / 2), {
      what: 'every client half way',
      timeout: RECOVERY_MS,
      retryErrors: true,
    });
    const stoppedAt = Date.now();
    await redis.stop();
    // Where each stream stands with Redis gone: it moves on only once Redis is back.
    const before = peers.map((p) => [p.resolved, p.pushes.length] as const);
    await delay(2_000); // the outage itself, not a wait for a condition
    await redis.start();
    const startedAt = Date.now();
    // Every stream moves on, both ways.
    await waitFor(
      () => peers.every((p, i) => p.resolved >= before[i]![0] + 20 && p.pushes.length >= before[i]![1] + 20),
      { what: 'every stream to move on', timeout: RECOVERY_MS, retryErrors: true },
    );
    const recoveredMs = Date.now() - startedAt;
    await sending;
    await Promise.all(peers.map((p) => settled(p, N)));
    for (const p of peers) await expectExactlyOnce(c, p, N);
    console.log(
      `[cluster-nodes] Redis down ${startedAt - stoppedAt} ms at ${N / 2} of ${N} messages each way x 4 transports; streams moved on ${recoveredMs} ms after Redis was back; total ${Date.now() - began} ms; connections closed ${JSON.stringify(Object.fromEntries(peers.map((p) => [p.transport, p.closes])))}; requests not answered 2xx ${JSON.stringify(
        c.lb
          .accessLog()
          .filter((e) => e.status >= 300 && e.uri.includes('client=redis-down'))
          .map((e) => `${e.status} ${e.method} ${e.uri.replace(/link=[^&]+/, 'link=…')} after ${e.requestTime}s`),
      )}`,
    );
  }, 120_000);
});

describe('3 nodes behind nginx on a Redis Cluster', () => {
  it('a local 3-master Redis Cluster: 1,000 messages each way on every transport at once, exactly once, in order', async () => {
    const redisCluster3 = await services.redisCluster();
    const c = await startCluster({ nodes: redisCluster3.seeds });
    const N = 1_000;
    const peers = TRANSPORTS.map((t) => new Peer(`redis-cluster-${t}`, t, c.lb));
    const began = Date.now();
    // The WebSocket session is dropped once half way, so that it too is served by two nodes.
    await Promise.all(
      peers.map((p) =>
        sendAll(p, { messages: N, window: 20, pushEvery: 20, dropAfter: p.transport === 'websocket' ? [499] : [] }),
      ),
    );
    await Promise.all(peers.map((p) => settled(p, N)));
    for (const p of peers) await expectExactlyOnce(c, p, N);
    // For the record: the slot of each session's keys (its hash tag), which says its master.
    const slots = await Promise.all(
      peers.map((p) => redisCluster3.cli('CLUSTER', 'KEYSLOT', `rt:{${c.sessions(p.name)[0]}}`)),
    );
    console.log(
      `[cluster-nodes] Redis Cluster: ${N} messages each way x 4 transports in ${Date.now() - began} ms; session slots ${slots.map((s) => s.trim()).join(', ')}`,
    );
  }, 120_000);
});
