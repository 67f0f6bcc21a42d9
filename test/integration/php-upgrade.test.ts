// @vitest-environment node
// A session moving from the PHP server's HTTP side to its WebSocket daemon: a client (the
// library's RealtimeClient) starts on long-poll, because WebSocket fails at first, talks through
// php -S (behind ws-daemon.php --http-upstream, one URL for everything), and upgrades to the
// daemon when its probe gets through. Traffic flows both ways throughout, and nothing is lost or
// repeated: the session, its sequence numbers and its replay buffer live in the SQLite file that
// both sides share.
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { RealtimeClient } from '../../src/index';
import { fastReconnect } from './harness';
import { usePhp } from './php-harness';
import { waitFor } from '../wait';

const php = usePhp({ fpm: false });
let client: RealtimeClient | undefined;
afterEach(() => {
  client?.close();
  client = undefined;
});

describe("a session moving between the PHP server's transports", () => {
  it('starts on long-poll (php -S), upgrades to the WebSocket daemon, and loses and repeats nothing', async () => {
    // An allow-list, as deployed: this Node client sends no Origin, which is admitted on both sides (§12).
    const stack = await php.start({
      app: 'conformance',
      settings: { heartbeatInterval: 5000, allowedOrigins: ['http://app.example'] },
    });
    const builtin = await stack.builtin(16);
    const daemon = await stack.daemon({ upstream: builtin.port });

    // A network that refuses WebSocket until told otherwise: the attempt goes to a closed port.
    let refuse = true;
    const Gated = class extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(refuse ? String(url).replace(/:\d+\//, ':1/') : url, protocols);
      }
    };
    const c = (client = new RealtimeClient(daemon.url, {
      transports: ['websocket', 'long-poll'],
      probeInterval: 300,
      reconnect: fastReconnect,
      env: { WebSocket: Gated as unknown as typeof globalThis.WebSocket },
    }));
    const seen: string[] = [];
    c.on('transport', (t) => seen.push(t.to));
    const opens: boolean[] = [];
    c.on('open', (o) => opens.push(o.resumed));
    const closes: string[] = [];
    c.on('close', (e) => closes.push(`${c.transport} ${e.code} ${e.reason}`));
    const errors: string[] = [];
    c.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
    const echoes: number[] = [];
    c.on('message', (m) => echoes.push((m as { echo: number }).echo));
    await waitFor(() => c.state === 'open', { what: 'open over long-poll', timeout: 20_000 });
    expect(c.transport).toBe('long-poll');

    // Messages both ways throughout the switch: each one sent comes back as {"echo": i}.
    let i = 0;
    const sends: Promise<void>[] = [];
    const pump = setInterval(() => {
      for (let k = 0; k < 5; k++, i++) {
        const sent = c.send(i);
        sent.catch(() => {}); // awaited below; a failed run must not add unhandled rejections
        sends.push(sent);
      }
    }, 20);
    try {
      await waitFor(() => echoes.length >= 200, { what: 'traffic over long-poll', timeout: 20_000 });
      refuse = false;
      await waitFor(() => c.transport === 'websocket' && c.state === 'open', {
        what: 'the upgrade to the daemon',
        timeout: 20_000,
      }).catch((err: Error) => {
        throw new Error(
          `${err.message}: transports ${JSON.stringify(seen)}, closes ${JSON.stringify(closes)}, errors ${JSON.stringify(errors)}`,
        );
      });
      const atUpgrade = i;
      await waitFor(() => echoes.length >= atUpgrade + 200, { what: 'traffic over the WebSocket', timeout: 20_000 });
    } finally {
      clearInterval(pump);
    }
    await Promise.all(sends);
    await waitFor(() => echoes.length >= i, { what: 'every echo', timeout: 20_000 });
    expect(seen).toEqual(['long-poll', 'websocket']);
    expect(opens).toEqual([false, true]); // one session, resumed on the WebSocket
    expect(errors).toEqual([]);
    expect(echoes).toEqual([...Array(i).keys()]);

    // On the server: one session, received every message once, now carried by the daemon.
    const sessions = await stack.query('SELECT s.received, c.kind FROM sessions s JOIN conns c ON c.id = s.conn');
    expect(sessions).toEqual([{ received: i, kind: 'websocket' }]);
  }, 90_000);
});
