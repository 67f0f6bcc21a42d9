// The harness of test/services/ itself: each service really starts as the process we own, on its
// own port (never a default one), does what the multi-node tests rely on, and is gone by pid after.
import { readFileSync, existsSync } from 'node:fs';
import { get, request, type IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  freePort,
  freePorts,
  launchNginx,
  launchRedis,
  pidGone,
  PortInUseError,
  redisCommand,
  redisInfo,
  RespError,
  serviceScope,
  withFreePorts,
} from '../services/index';
import { waitFor } from '../wait';
import { wsText } from './raw-client';

const services = serviceScope({ needs: ['redis', 'nginx'] });
const echoBackend = fileURLToPath(new URL('../services/echo-backend.mjs', import.meta.url));
const DEFAULT_PORTS = [80, 6379, 8080];

/** Holds `port` on 127.0.0.1 until close(): a port "taken by someone else". */
function holdPort(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function expectAllGone(pids: number[]): void {
  expect(
    pids.filter((pid) => !pidGone(pid)),
    'pids still running',
  ).toEqual([]);
}

async function getJson(url: string): Promise<{ name: string; port: number; pid: number }> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return (await res.json()) as { name: string; port: number; pid: number };
}

describe('free ports', () => {
  it('are distinct, never a default port, and bindable', async () => {
    const ports = await freePorts(20);
    expect(new Set(ports).size).toBe(20);
    for (const p of ports) expect(DEFAULT_PORTS).not.toContain(p);
    const held = await holdPort(ports[0]!);
    held.close();
  });

  it('withFreePorts tries new ports when the service finds its port taken', async () => {
    const tried: number[] = [];
    const result = await withFreePorts(1, ([port]) => {
      tried.push(port!);
      if (tried.length === 1) return Promise.reject(new PortInUseError(port!, 'taken'));
      return Promise.resolve(port);
    });
    expect(tried).toHaveLength(2);
    expect(result).toBe(tried[1]);
    expect(tried[1]).not.toBe(tried[0]);
  });

  it('a redis-server or nginx whose port is taken fails with PortInUseError (so startX retries)', async () => {
    const port = await freePort();
    const held = await holdPort(port);
    try {
      await expect(launchRedis(port)).rejects.toBeInstanceOf(PortInUseError);
      const began = Date.now();
      await expect(launchNginx(port, { backends: [port] })).rejects.toBeInstanceOf(PortInUseError);
      // Seen at nginx's first bind() failure, not after its 2.5 s of retries.
      expect(Date.now() - began).toBeLessThan(2_000);
    } finally {
      held.close();
    }
  });
});

describe('redis-server', () => {
  it('starts as our process on its own port, keeps its AOF over restart() and kill(), and is gone by pid after', async () => {
    const redis = await services.redis({ persistence: 'aof' });
    expect(DEFAULT_PORTS).not.toContain(redis.port);
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    const firstPid = redis.pid;
    // The server on that port is the process we started, writing its pid file in its own dir.
    expect(Number(readFileSync(redis.pidFile, 'utf8'))).toBe(firstPid);
    expect(redis.pidFile.startsWith(redis.dir)).toBe(true);
    const info = await redisInfo(redis.port, 'server');
    expect(Number(info.process_id)).toBe(firstPid);
    expect((await redis.cli('PING')).trim()).toBe('PONG');
    expect(String(await redis.command('CONFIG', 'GET', 'appendonly'))).toBe('appendonly,yes');

    expect(await redis.command('SET', 'k', 'before restart')).toBe('OK');
    await redis.restart();
    expect(pidGone(firstPid)).toBe(true);
    expect(redis.pid).not.toBe(firstPid);
    expect(await redis.command('GET', 'k')).toBe('before restart');

    // A crash: appendfsync always keeps what was acknowledged.
    expect(await redis.command('SET', 'k', 'before kill')).toBe('OK');
    const killedPid = redis.pid;
    await redis.kill();
    expect(pidGone(killedPid)).toBe(true);
    await expect(redisCommand(redis.port, ['PING'])).rejects.toThrow(/ECONNREFUSED/);
    await redis.start();
    expect(await redis.command('GET', 'k')).toBe('before kill');

    const lastPid = redis.pid;
    await redis.destroy();
    expectAllGone([firstPid, killedPid, lastPid]);
    expect(existsSync(redis.dir)).toBe(false);
    await expect(redisCommand(redis.port, ['PING'])).rejects.toThrow(/ECONNREFUSED/);
  });

  it('without persistence, a restart starts empty', async () => {
    const redis = await services.redis();
    await redis.command('SET', 'k', 'v');
    await redis.restart();
    expect(await redis.command('GET', 'k')).toBeNull();
  });

  it('pause(ms) refuses connections for that long, then answers again on the same port', async () => {
    const redis = await services.redis();
    const pausedPid = redis.pid;
    const began = Date.now();
    const paused = redis.pause(400);
    await waitFor(() => !redis.running(), { what: 'redis to stop', timeout: 10_000, retryErrors: true });
    await expect(redisCommand(redis.port, ['PING'])).rejects.toThrow(/ECONNREFUSED/);
    await paused;
    expect(Date.now() - began).toBeGreaterThanOrEqual(400);
    expect(pidGone(pausedPid)).toBe(true);
    expect(await redis.command('PING')).toBe('PONG');
  });

  it('freeze(ms) leaves connections open but unanswered for that long', async () => {
    const redis = await services.redis();
    const frozen = redis.freeze(500);
    await expect(redisCommand(redis.port, ['PING'], 200)).rejects.toThrow(/no reply/);
    await frozen;
    expect(await redis.command('PING')).toBe('PONG');
  });
});

describe('Redis Cluster', () => {
  it('three masters reach cluster_state:ok; a key set through the cluster lives on one of them; all gone by pid after', async () => {
    const cluster = await services.redisCluster();
    expect(cluster.nodes).toHaveLength(3);
    expect(cluster.seeds.map((s) => s.port)).toEqual(cluster.nodes.map((n) => n.port));
    const pids = cluster.pids();
    expect(pids).toHaveLength(3);
    for (const node of cluster.nodes) {
      expect(DEFAULT_PORTS).not.toContain(node.port);
      const info = await cluster.info(node);
      expect(info.cluster_state).toBe('ok');
      expect(info.cluster_known_nodes).toBe('3');
      expect(info.cluster_size).toBe('3');
      expect(info.cluster_slots_assigned).toBe('16384');
    }

    expect((await cluster.cli('SET', 'greeting', 'hello')).trim()).toBe('OK');
    expect((await cluster.cli('GET', 'greeting')).trim()).toBe('hello');
    // Asked directly, the slot's owner answers and the two others redirect: a real cluster.
    const answers = await Promise.all(
      cluster.nodes.map((n) => redisCommand(n.port, ['GET', 'greeting']).catch((err: RespError) => err.message)),
    );
    expect(answers.filter((a) => a === 'hello')).toHaveLength(1);
    expect(answers.filter((a) => typeof a === 'string' && a.startsWith('MOVED '))).toHaveLength(2);

    await cluster.destroy();
    expectAllGone(pids);
    expect(cluster.pids()).toEqual([]);
  });
});

describe('nginx', () => {
  it('balances round robin over two node backends, with no stickiness, and logs which one served', async () => {
    const nodes = await services.nodes(echoBackend, 2);
    const lb = await services.nginx({ backends: nodes.map((n) => n.port) });
    expect(DEFAULT_PORTS).not.toContain(lb.port);
    const answers = [];
    // One client, one keep-alive connection to nginx: still every request goes to the next node.
    for (let i = 0; i < 6; i++) answers.push(await getJson(`${lb.url}/req-${i}`));
    const names = answers.map((a) => a.name);
    expect(names.filter((n) => n === 'node-0')).toHaveLength(3);
    expect(names.filter((n) => n === 'node-1')).toHaveLength(3);
    for (let i = 1; i < names.length; i++) expect(names[i]).not.toBe(names[i - 1]);

    // The access log, ours, names the same backend for each request as the answer did.
    const log = await lb.waitForRequests(6);
    expect(log.map((e) => e.uri)).toEqual(answers.map((_, i) => `/req-${i}`));
    expect(log.map((e) => e.upstreamPort)).toEqual(answers.map((a) => a.port));
    expect(lb.servedBy()).toEqual(
      new Map([
        [nodes[0]!.port, 3],
        [nodes[1]!.port, 3],
      ]),
    );
    // And each backend saw its 3 requests.
    for (const node of nodes) expect(node.events.filter((e) => e.ev === 'request')).toHaveLength(3);
  });

  it("balance: { hash: '$remote_addr consistent' } keeps each client address on one backend, and spreads addresses", async () => {
    const nodes = await services.nodes(echoBackend, 2);
    const lb = await services.nginx({
      backends: nodes.map((n) => n.port),
      balance: { hash: '$remote_addr consistent' },
    });
    expect(readFileSync(lb.configFile, 'utf8')).toContain('hash $remote_addr consistent;');
    /** GET through nginx from `localAddress` (a new connection each time: no keep-alive to lean on). */
    const from = (localAddress: string) =>
      new Promise<string>((resolve, reject) => {
        get(`${lb.url}/x`, { localAddress, agent: false }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve((JSON.parse(body) as { name: string }).name));
        }).on('error', reject);
      });
    const seen = new Map<string, Set<string>>();
    for (let k = 2; k < 18; k++) {
      const address = `127.0.0.${k}`;
      for (let i = 0; i < 3; i++) seen.set(address, (seen.get(address) ?? new Set()).add(await from(address)));
    }
    for (const [address, names] of seen) expect([...names], address).toHaveLength(1);
    // 16 addresses over two backends: both get some (all on one has odds of 2 in 65,536).
    expect(new Set([...seen.values()].map((names) => [...names][0])).size).toBe(2);
  });

  it('proxies a WebSocket upgrade both ways', async () => {
    const nodes = await services.nodes(echoBackend, 2);
    const lb = await services.nginx({ backends: nodes.map((n) => n.port) });
    const socket = new WebSocket(lb.wsUrl('/socket'));
    const received: Array<{ name: string; echo?: string }> = [];
    socket.on('message', (data) => received.push(JSON.parse(wsText(data)) as { name: string; echo?: string }));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    await waitFor(() => received.length >= 1, { what: 'the greeting', timeout: 10_000, retryErrors: true });
    socket.send('ping through nginx');
    await waitFor(() => received.length >= 2, { what: 'the echo', timeout: 10_000, retryErrors: true });
    expect(received[1]).toEqual({ name: received[0]!.name, echo: 'ping through nginx' });
    socket.close();
    const [entry] = await lb.waitForRequests(1);
    expect(entry).toMatchObject({ uri: '/socket', status: 101, upgrade: 'websocket' });
    expect(entry!.upstreamPort).toBe(nodes.find((n) => n.name === received[0]!.name)!.port);
  });

  it('streams an SSE event through before the response ends', async () => {
    const [node] = await services.nodes(echoBackend, 1);
    const lb = await services.nginx({ backends: [node!.port] });
    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      get(`${lb.url}/sse`, resolve).once('error', reject),
    );
    expect(res.statusCode).toBe(200);
    // The backend never ends this response: the event can only arrive streamed.
    const chunk = await new Promise<string>((resolve, reject) => {
      res.once('data', (c: Buffer) => resolve(c.toString('utf8')));
      res.once('end', () => reject(new Error('the response ended before any event')));
      res.once('error', reject);
    });
    expect(chunk).toBe(`data: ${JSON.stringify({ name: 'node-0' })}\n\n`);
    expect(res.complete).toBe(false);
    res.destroy();
  });

  it('passes backpressure to the backend: a reader that stops stalls the backend within a few MB (proxy_buffering off)', async () => {
    const [node] = await services.nodes(echoBackend, 1);
    const lb = await services.nginx({ backends: [node!.port] });
    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      get(`${lb.url}/flood`, resolve).once('error', reject),
    );
    res.pause();
    // Buffering nginx would take all 64 MB into its temp files and the backend would never stall.
    const event = await node!.waitForEvent((e) => e.ev === 'flood');
    expect(event.stalled).toBe(true);
    expect(event.bytes).toBeLessThan(32 << 20);
    res.destroy();
  });

  it('streams a request body to the backend as it comes (proxy_request_buffering off)', async () => {
    const [node] = await services.nodes(echoBackend, 1);
    const lb = await services.nginx({ backends: [node!.port] });
    const req = request(`${lb.url}/upload`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } });
    const response = new Promise<IncomingMessage>((resolve, reject) =>
      req.once('response', resolve).once('error', reject),
    );
    req.write('first part;');
    // Only the first part is sent: a buffering nginx would hold it until the body ends.
    expect(await node!.waitForEvent((e) => e.ev === 'upload', 3_000)).toEqual({ ev: 'upload', bytes: 11 });
    req.end('second part');
    const res = await response;
    const body = await new Promise<string>((resolve) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8'))).on('end', () => resolve(text));
    });
    expect(JSON.parse(body)).toEqual({ name: 'node-0', bytes: 22 });
  });

  it('setBackends() reloads: new requests go to the new set only', async () => {
    const nodes = await services.nodes(echoBackend, 2);
    const lb = await services.nginx({ backends: [nodes[0]!.port] });
    expect((await getJson(`${lb.url}/a`)).name).toBe('node-0');
    const masterPid = lb.pid;
    await lb.setBackends([nodes[1]!.port]);
    expect(lb.pid).toBe(masterPid);
    for (let i = 0; i < 3; i++) expect((await getJson(`${lb.url}/b`)).name).toBe('node-1');
  });

  it('stops master and workers by pid', async () => {
    const [node] = await services.nodes(echoBackend, 1);
    const lb = await services.nginx({ backends: [node!.port], workerProcesses: 2 });
    const pids = lb.pids();
    expect(pids).toHaveLength(3);
    expect(Number(readFileSync(lb.pidFile, 'utf8'))).toBe(lb.pid);
    await lb.destroy();
    expectAllGone(pids);
    await expect(fetch(lb.url)).rejects.toThrow();
  });
});

describe('node processes', () => {
  it('a SIGKILLed node restarts on the same port, and is gone by pid after', async () => {
    const [node] = await services.nodes(echoBackend, 1);
    const port = node!.port;
    const firstPid = node!.pid;
    expect((await getJson(node!.url)).pid).toBe(firstPid);
    await node!.kill();
    expect(node!.process!.exitInfo?.signal).toBe('SIGKILL');
    expect(pidGone(firstPid)).toBe(true);
    await node!.start();
    expect(node!.port).toBe(port);
    expect(node!.pid).not.toBe(firstPid);
    expect((await getJson(node!.url)).pid).toBe(node!.pid);
    const secondPid = node!.pid;
    await node!.stop();
    expectAllGone([firstPid, secondPid]);
  });
});
