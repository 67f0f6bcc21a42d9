// "Time to first message" of `npm run bench` (issue 17): a fresh page, in a fresh browser context
// (nothing remembered: no sessionStorage, no pooled connection), starts its client as soon as its
// scripts have run (?auto=1, bench/pages/bench.js) with the library's default transports; the
// server sends {hello} to every new connection (the -greet paths of bench/server.mjs). Measured
// in the page: from the page's first script to that message (and from the client's constructor).
// Three setups, the nginx ones started here (test/services/nginx.ts's proxySite(): Debian's
// nginx-light, installed when missing, on a free port, stopped by pid):
//   direct           the page and the endpoint on the bench server itself
//   nginx-no-ws      nginx in front, streams unbuffered, WebSocket not forwarded
//   nginx-buffering  nginx in front buffering streams (proxy_buffering + gzip, X-Accel-Buffering
//                    ignored), WebSocket not forwarded: only long-poll / polling deliver
import { loadServices } from '../cluster/services.mjs';
import { BenchPage } from './harness.mjs';
import { median, table } from './report.mjs';

export const FIRST_MESSAGE_SETUPS = [
  { id: 'direct', name: 'direct to the server', site: null },
  { id: 'nginx-no-ws', name: 'behind nginx, WebSocket not forwarded', site: { websocket: false } },
  {
    id: 'nginx-buffering',
    name: 'behind nginx buffering streams (proxy_buffering + gzip), WebSocket not forwarded',
    site: { websocket: false, buffering: true },
  },
];

const CLIENTS = [
  { id: 'ours', kind: 'ours', params: { transport: 'default', path: '/realtime-greet' } },
  { id: 'socket.io', kind: 'socketio', params: { transport: 'default', path: '/socket.io-greet' } },
];

/** How long one page may take to get its first message before the run counts as failed. */
const LIMIT_MS = 40_000;

/** One fresh page on `base`: ms to its first message, and the transport its client opened on. */
async function once(browser, base, client) {
  const p = await BenchPage.open(browser, { url: base }, client.kind, { ...client.params, auto: 1 });
  try {
    await p.page.waitForFunction(() => window.H.firstMessageAt !== null, undefined, { timeout: LIMIT_MS, every: 5 });
    return await p.eval(() => {
      const H = window.H;
      const open = H.events.find((e) => e.type === 'open');
      return {
        fromScript: H.firstMessageAt - H.scriptStart,
        fromConstructor: H.firstMessageAt - H.startedAt,
        transport: open?.detail?.transport ?? null,
        errors: H.errors.slice(0, 3),
      };
    });
  } finally {
    await p.close();
  }
}

const fmtMs = (x) => (Number.isFinite(x) ? `${Math.round(x)}` : 'n/a');
const stats = (xs) => ({ min: Math.min(...xs), median: median(xs), max: Math.max(...xs) });

/**
 * `runs` timed pages per client and setup (after one untimed page each: the server's JIT and
 * nginx's first upstream connection), ours and socket.io alternating so that a change in load
 * hits both.
 */
export async function firstMessage({ browser, server, runs, log }) {
  const S = await loadServices();
  await S.ensureServices('nginx');
  const out = { runs, setups: {} };
  for (const setup of FIRST_MESSAGE_SETUPS) {
    const nginx = setup.site
      ? await S.startNginx({ backends: [], site: S.proxySite(server.port, setup.site) })
      : undefined;
    try {
      const base = nginx?.url ?? server.url;
      const got = Object.fromEntries(CLIENTS.map((c) => [c.id, { times: [], fromConstructor: [], transports: {} }]));
      const errors = [];
      for (let r = -1; r < runs; r++) {
        for (const client of CLIENTS) {
          try {
            const x = await once(browser, base, client);
            if (x.errors.length) errors.push(`${client.id}: ${x.errors.join(' | ')}`);
            if (r < 0) continue;
            const g = got[client.id];
            g.times.push(x.fromScript);
            g.fromConstructor.push(x.fromConstructor);
            g.transports[x.transport] = (g.transports[x.transport] ?? 0) + 1;
          } catch (err) {
            errors.push(`${client.id}: ${String(err?.message ?? err).slice(0, 300)}`);
          }
        }
      }
      const result = { name: setup.name, errors, clients: {} };
      for (const client of CLIENTS) {
        const g = got[client.id];
        result.clients[client.id] = {
          ...stats(g.times),
          fromConstructor: median(g.fromConstructor),
          transports: g.transports,
          all: g.times.map((t) => Math.round(t)),
        };
      }
      out.setups[setup.id] = result;
      const line = (id) => {
        const c = result.clients[id];
        const on = Object.keys(c.transports).join(', ') || 'n/a';
        return `${id} ${fmtMs(c.min)} / ${fmtMs(c.median)} / ${fmtMs(c.max)} ms (${on})`;
      };
      log(`   ${setup.id.padEnd(16)} min / median / max: ${CLIENTS.map((c) => line(c.id)).join(';  ')}`);
      for (const e of errors.slice(0, 5)) log(`   ! ${setup.id}: ${e}`);
    } finally {
      await nginx?.destroy();
    }
  }
  return out;
}

/** The section of BENCHMARKS.md. */
export function firstMessageMarkdown(r) {
  const rows = [];
  for (const setup of FIRST_MESSAGE_SETUPS) {
    const s = r.setups[setup.id];
    if (!s) continue;
    const ours = s.clients.ours;
    const sio = s.clients['socket.io'];
    for (const [id, c] of Object.entries(s.clients)) {
      rows.push([
        setup.name,
        id === 'ours' ? '**ours**' : 'socket.io-client',
        Object.entries(c.transports)
          .map(([t, n]) => `${t} (${n})`)
          .join(', ') || 'n/a',
        `${fmtMs(c.min)} / **${fmtMs(c.median)}** / ${fmtMs(c.max)}`,
        fmtMs(c.fromConstructor),
        id === 'ours' && sio.median > 0 ? `${(ours.median / sio.median).toFixed(2)}×` : '',
      ]);
    }
  }
  const failures = Object.entries(r.setups).flatMap(([id, s]) => s.errors.map((e) => `${id}: ${e}`));
  return [
    `**Time to first message**, ${r.runs} fresh page(s) per client and setup (after one untimed): a new browser context whose page starts its client as soon as its scripts have run, with the library's default transports (ours: websocket, sse, fetch-stream, long-poll, racing after \`fallbackAfter\`; socket.io: polling, then the upgrade); the server sends a message to every new connection. Time in ms from the page's first script to that message (it includes loading the library through the proxy), min / **median** / max; "from constructor": median from creating the client. The nginx setups are Debian's nginx-light started by the benchmark; "buffering" is proxy_buffering on, gzip on every type sent (text/event-stream included) and the server's \`X-Accel-Buffering: no\` ignored, as by a proxy that does not know it. Ratio: ours ÷ socket.io, medians (below 1 = ours is faster).`,
    '',
    table(['setup', 'client', 'opened on (pages)', 'ms to first message', 'from constructor', '÷ socket.io'], rows),
    ...(failures.length ? ['', `Failures: ${failures.slice(0, 5).join('; ')}`] : []),
  ].join('\n');
}
