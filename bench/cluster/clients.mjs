// A process of clients for the cluster section of `npm run bench` (bench/cluster.mjs forks
// several, so that 10,000 connections are spread over processes and cores, and each stays under
// the file-descriptor limit). Node clients over loopback: our RealtimeClient (dist/, with the
// `ws` and `eventsource` packages for Node, as test/integration/harness.ts does) and
// socket.io-client. Driven over fork()'s IPC channel: {cmd, req, ...args} → {reply: req, ok, result | error}.
//
// Every client speaks the application protocol of bench/cluster/node.mjs. Times are wall-clock
// ms (performance.timeOrigin + performance.now()), comparable across the processes of one machine.
import { Agent } from 'node:http';
import { WebSocket } from 'ws';
import { EventSource } from 'eventsource';
import { io } from 'socket.io-client';
import { RealtimeClient } from 'realtime-client';

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const env = { WebSocket, EventSource };

/** Padding so that {i, p} serialises to `size` bytes for 5-digit numbers (as bench/pages/bench.js). */
const pad = (size) => 'x'.repeat(Math.max(0, size - JSON.stringify({ i: 10000, p: '' }).length));

/** All clients of this process, by id. */
const clients = new Map();
let nextId = 0;

/**
 * One client. `lib`: 'ours' | 'sio'; `transport`: ours' transport name, or socket.io's
 * 'websocket' | 'polling' | 'default' (polling, then upgrade to websocket).
 */
class Client {
  events = [];
  /** Called for each application message. */
  onMessage = null;
  /** Broadcasts received: id → time. */
  broadcasts = new Map();
  /** Ticks received, in order. */
  ticks = [];

  constructor({ lib, transport, url, opts = {}, localAddress }) {
    this.id = ++nextId;
    this.lib = lib;
    this.transport = transport;
    const message = (m) => {
      if (m && m.b !== undefined) this.broadcasts.set(m.b, now());
      else if (m && m.tick !== undefined) this.ticks.push(m.tick);
      else this.onMessage?.(m);
    };
    if (lib === 'ours') {
      const c = (this.client = new RealtimeClient(url, { transports: [transport], env, ...opts }));
      c.on('open', (d) => this.event('open', { resumed: d.resumed, transport: d.transport }));
      c.on('close', (d) => this.event('close', { code: d.code, reason: d.reason }));
      c.on('error', (e) => this.event('error', { code: e.code, message: String(e.message).slice(0, 200) }));
      c.on('message', message);
      this.send = (obj) =>
        void c.send(obj).catch((e) => this.event('error', { code: e.code, message: `send: ${e.message}` }));
      this.close = () => c.close();
    } else {
      // forceNew: one connection per client (io() shares a Manager per URL otherwise).
      // agent / localAddress: this client's own source address, for nginx's hash on $remote_addr.
      const agent = new Agent({ keepAlive: true, ...(localAddress ? { localAddress } : {}) });
      const s = (this.client = io(url, {
        path: '/socket.io',
        transports: transport === 'default' ? ['polling', 'websocket'] : [transport],
        forceNew: true,
        agent,
        ...(localAddress ? { localAddress } : {}),
        ...opts,
      }));
      s.on('connect', () => this.event('open', { resumed: s.recovered, transport: s.io.engine.transport.name }));
      s.on('disconnect', (reason) => this.event('close', { reason }));
      s.on('connect_error', (e) =>
        this.event('error', {
          message: String(e?.message).slice(0, 200),
          description: String(e?.description?.message ?? e?.description ?? '').slice(0, 200),
        }),
      );
      s.io.engine?.on?.('upgrade', (t) => this.event('upgrade', { transport: t.name }));
      s.on('m', message);
      this.send = (obj) => s.emit('m', obj);
      this.close = () => {
        s.close();
        agent.destroy();
      };
    }
  }

  event(type, detail) {
    this.events.push({ type, t: now(), ...detail });
  }

  get opens() {
    return this.events.filter((e) => e.type === 'open').length;
  }

  /** Resolves once the client has opened `n` times in all; rejects after `ms`. */
  async waitOpens(n, ms) {
    const end = Date.now() + ms;
    while (this.opens < n) {
      if (Date.now() > end)
        throw new Error(
          `${this.lib}/${this.transport}: not open within ${ms} ms; last events ${JSON.stringify(this.events.slice(-4))}`,
        );
      await sleep(5);
    }
  }

  /** Server → client: asks for n messages of `size` bytes; ms until the last arrived, in order. */
  push(n, size, limitMs) {
    return new Promise((resolve, reject) => {
      let count = 0;
      let outOfOrder = 0;
      const t0 = now();
      const timer = setTimeout(() => reject(new Error(`push ${n}x${size}: got ${count} in ${limitMs} ms`)), limitMs);
      this.onMessage = (m) => {
        if (!m || m.i === undefined) return;
        if (m.i !== count) outOfOrder++;
        if (++count === n) {
          clearTimeout(timer);
          this.onMessage = null;
          resolve({ ms: now() - t0, count, outOfOrder });
        }
      };
      this.send({ ctl: 'push', n, size });
    });
  }

  /** Client → server: n messages of `size` bytes in one loop; ms until the server has them all. */
  up(n, size, limitMs) {
    return new Promise((resolve, reject) => {
      const p = pad(size);
      const t0 = now();
      const timer = setTimeout(() => reject(new Error(`up ${n}x${size}: no answer in ${limitMs} ms`)), limitMs);
      let loopMs;
      this.onMessage = (m) => {
        if (!m || m.done === undefined) return;
        clearTimeout(timer);
        this.onMessage = null;
        resolve({ ms: now() - t0, loopMs, count: m.done });
      };
      this.send({ ctl: 'up', n });
      for (let i = 0; i < n; i++) this.send({ i, p });
      loopMs = now() - t0;
    });
  }

  /** One echo: ms for the round trip, or rejects after `ms`. */
  ask(obj, match, ms = 10_000) {
    return new Promise((resolve, reject) => {
      const t0 = now();
      const timer = setTimeout(() => reject(new Error(`no answer to ${JSON.stringify(obj)} in ${ms} ms`)), ms);
      this.onMessage = (m) => {
        if (!match(m)) return;
        clearTimeout(timer);
        this.onMessage = null;
        resolve({ ms: now() - t0, m });
      };
      this.send(obj);
    });
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i], i);
      }
    }),
  );
  return results;
}

const commands = {
  /**
   * Opens `count` clients, the k-th to urls[k % urls.length] (and from localAddresses[k % ...],
   * if given), at most `concurrency` handshakes at a time. Resolves when all are open, or after
   * `timeoutMs` with those that were not (they stay, and may open later).
   */
  async open({ lib, transport, urls, count, opts, localAddresses, concurrency = 100, timeoutMs = 60_000, offset = 0 }) {
    const t0 = now();
    const made = [];
    const end = Date.now() + timeoutMs;
    const failures = [];
    await pool(
      Array.from({ length: count }, (_, k) => k + offset),
      concurrency,
      async (k) => {
        const c = new Client({
          lib,
          transport,
          url: urls[k % urls.length],
          opts,
          localAddress: localAddresses?.[k % localAddresses.length],
        });
        clients.set(c.id, c);
        made.push(c.id);
        try {
          await c.waitOpens(1, Math.max(1, end - Date.now()));
        } catch (err) {
          failures.push(String(err.message).slice(0, 300));
        }
      },
    );
    const open = made.filter((id) => clients.get(id).opens > 0);
    return { ids: made, open: open.length, ms: now() - t0, failures: failures.slice(0, 3), failed: failures.length };
  },

  async push({ id, n, size, limitMs = 120_000 }) {
    return clients.get(id).push(n, size, limitMs);
  },

  async up({ id, n, size, limitMs = 120_000 }) {
    return clients.get(id).up(n, size, limitMs);
  },

  /** Each client asks its node which one it is: {id: name}. */
  async where({ ids, ms = 10_000 }) {
    const out = {};
    await Promise.all(
      ids.map(async (id) => {
        try {
          out[id] = (await clients.get(id).ask({ ctl: 'where' }, (m) => m?.where !== undefined, ms)).m.where;
        } catch {
          out[id] = null;
        }
      }),
    );
    return out;
  },

  /** One echo per client (each a round trip through its node): how many answered within `ms`. */
  async echo({ ids, ms = 10_000 }) {
    const res = await Promise.all(
      ids.map((id) =>
        clients
          .get(id)
          .ask({ echo: id }, (m) => m?.echo === id, ms)
          .then(
            (r) => r.ms,
            () => null,
          ),
      ),
    );
    return { answered: res.filter((x) => x !== null).length, ms: res.filter((x) => x !== null) };
  },

  /** Resolves once each client of `ids` has opened `n` times in all (those that did not within `ms`: listed). */
  async waitOpens({ ids, n, ms }) {
    const late = [];
    await Promise.all(
      ids.map((id) =>
        clients
          .get(id)
          .waitOpens(n, ms)
          .catch(() => late.push(id)),
      ),
    );
    return { late };
  },

  /** When broadcast `b` reached each client (those of `ids`, default all): times, and how many did not get it. */
  async broadcastTimes({ b, ids }) {
    const list = ids ?? [...clients.keys()];
    const times = [];
    let missing = 0;
    for (const id of list) {
      const t = clients.get(id)?.broadcasts.get(b);
      if (t === undefined) missing++;
      else times.push(t);
    }
    return { times, missing };
  },

  /** Events, and what each client's ticks say (missing ones in the range it saw, repeated ones). */
  async report({ ids }) {
    const out = {};
    for (const id of ids) {
      const c = clients.get(id);
      const seen = new Set(c.ticks);
      const first = c.ticks.length ? Math.min(...c.ticks) : 0;
      const last = c.ticks.length ? Math.max(...c.ticks) : 0;
      let missing = 0;
      for (let k = first; k <= last; k++) if (!seen.has(k)) missing++;
      out[id] = {
        events: c.events,
        ticks: { first, last, count: c.ticks.length, missing, repeated: c.ticks.length - seen.size },
      };
    }
    return out;
  },

  /** Over all clients (or `since` a time): how many events of each type, and the commonest close and error reasons. */
  async summary({ since = 0 } = {}) {
    const types = {};
    const reasons = {};
    for (const c of clients.values()) {
      for (const e of c.events) {
        if (e.t < since) continue;
        types[e.type] = (types[e.type] ?? 0) + 1;
        if (e.type === 'close' || e.type === 'error') {
          const why = `${e.type}: ${e.code ?? ''} ${e.reason ?? e.message ?? ''}`.slice(0, 120);
          reasons[why] = (reasons[why] ?? 0) + 1;
        }
      }
    }
    const top = Object.entries(reasons)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5);
    return { clients: clients.size, types, top };
  },

  async errors({ ids }) {
    return Object.fromEntries(
      (ids ?? [...clients.keys()]).map((id) => [id, clients.get(id).events.filter((e) => e.type === 'error').length]),
    );
  },

  /** Closes clients (all by default) and forgets them. */
  async close({ ids }) {
    for (const id of ids ?? [...clients.keys()]) {
      try {
        clients.get(id)?.close();
      } catch {
        // Already closed or failed: it is forgotten below all the same.
      }
      clients.delete(id);
    }
    return { left: clients.size };
  },

  async memory() {
    return process.memoryUsage();
  },
};

process.on('message', async (msg) => {
  if (!msg || msg.cmd === undefined) return;
  if (msg.cmd === 'exit') process.exit(0);
  try {
    const result = await commands[msg.cmd](msg);
    process.send({ reply: msg.req, ok: true, result });
  } catch (err) {
    process.send({ reply: msg.req, ok: false, error: String(err?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
