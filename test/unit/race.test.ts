// The transports of one attempt race (src/client/race.ts): the next starts alongside one that has
// not opened within fallbackAfter, or at once when one fails; the first to open wins.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RealtimeClient, type ClientOptions, type RealtimeError } from '../../src/index';
import { decide, defaultReconnect } from '../../src/client/retry';
import { scripted, settle, testEnv, welcomeText } from './helpers';

const welcome = welcomeText({ hb: 25000, max: 65536 });

let client: RealtimeClient | undefined;

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  client?.close();
  client = undefined;
  vi.useRealTimers();
});

function race(options: ClientOptions = {}) {
  const [a, b, c] = [scripted('websocket'), scripted('sse'), scripted('long-poll')];
  client = new RealtimeClient('ws://x', { transports: [a.t, b.t, c.t], env: testEnv(), ...options });
  const events: string[] = [];
  client.on('close', (e) => events.push(`close ${e.code}`));
  client.on('reconnecting', () => events.push('reconnecting'));
  client.on('error', (e: RealtimeError) => events.push(`error ${e.code}: ${e.message}`));
  return { a, b, c, client, events };
}

describe('transports racing within an attempt', () => {
  it('one that has not opened within fallbackAfter gets the next started alongside; the first to open wins and the other is closed', async () => {
    const { a, b, c, client, events } = race();
    await settle(0);
    expect([a.opened.length, b.opened.length]).toEqual([1, 0]);
    await settle(999);
    expect(b.opened.length).toBe(0);
    await settle(1);
    expect(b.opened.length).toBe(1); // a is still trying: both race now
    expect(a.closed[0]).toBeUndefined();
    b.opened[0]!.onOpen();
    expect(a.closed[0]).toEqual({ code: 1000, reason: 'another transport opened first' });
    b.opened[0]!.onFrame(welcome);
    expect(client.state).toBe('open');
    expect(client.transport).toBe('sse');
    await settle(5000);
    expect(c.opened.length).toBe(0); // nothing more starts once one won
    expect(events).toEqual([]); // losing the race is no close and no error
  });

  it('the earlier transport still wins when it opens first, though the next had started', async () => {
    const { a, b, client } = race();
    await settle(1500);
    expect(b.opened.length).toBe(1);
    a.opened[0]!.onOpen();
    expect(b.closed[0]).toBeDefined();
    a.opened[0]!.onFrame(welcome);
    expect(client.transport).toBe('websocket');
  });

  it('a failure starts the next at once, and the stagger runs from there', async () => {
    const { a, b, c, events } = race();
    await settle(100);
    a.opened[0]!.onClose(1006, 'refused');
    expect(b.opened.length).toBe(1);
    await settle(999);
    expect(c.opened.length).toBe(0);
    await settle(1);
    expect(c.opened.length).toBe(1);
    expect(events).toEqual(['close 1006']);
  });

  it('every transport started and one fails while another still tries: no backoff, the one left may still win', async () => {
    const { a, b, c, client, events } = race();
    await settle(2000);
    expect(c.opened.length).toBe(1);
    b.opened[0]!.onClose(1006, 'dropped');
    a.opened[0]!.onClose(1006, 'refused');
    expect(events).toEqual(['close 1006', 'close 1006']);
    c.opened[0]!.onOpen();
    c.opened[0]!.onFrame(welcome);
    expect(client.transport).toBe('long-poll');
    expect(client.state).toBe('open');
  });

  it('all fail: one connect-failed error naming each, then backoff from the first', async () => {
    const { a, b, c, events } = race({ reconnect: { initialDelay: 1000 } });
    await settle(0);
    a.opened[0]!.onClose(1006, 'refused');
    b.opened[0]!.onClose(1006, 'dropped');
    c.opened[0]!.onClose(4503, 'busy');
    expect(events.slice(-2)).toEqual([
      'error connect-failed: Could not connect (websocket: 1006 refused; sse: 1006 dropped; long-poll: 4503 busy); retrying',
      'reconnecting',
    ]);
    await settle(1000);
    expect([a.opened.length, b.opened.length, c.opened.length]).toEqual([2, 1, 1]);
  });

  it('heartbeat.timeout still bounds the whole attempt: none opens, all are closed, backoff', async () => {
    const { a, b, c, events } = race({ heartbeat: { timeout: 5000 } });
    await settle(5000);
    expect([a.closed[0]?.code, b.closed[0]?.code, c.closed[0]?.code]).toEqual([4408, 4408, 4408]);
    expect(events.at(-1)).toBe('reconnecting');
  });

  it('callbacks of a transport that lost the race are ignored', async () => {
    const { a, b, client, events } = race();
    await settle(1000);
    b.opened[0]!.onOpen();
    b.opened[0]!.onFrame(welcome);
    a.opened[0]!.onOpen();
    a.opened[0]!.onFrame(JSON.stringify({ t: 'msg', s: 1, d: ['stale'] }));
    a.opened[0]!.onClose(1006, 'late');
    expect(client.transport).toBe('sse');
    expect(client.state).toBe('open');
    expect(events).toEqual([]);
  });

  it('fallbackAfter: Infinity tries one at a time, the next only when one fails', async () => {
    const { a, b } = race({ fallbackAfter: Infinity, heartbeat: { timeout: 60000 } });
    await settle(30000);
    expect(b.opened.length).toBe(0);
    a.opened[0]!.onClose(1006, 'refused');
    expect(b.opened.length).toBe(1);
  });
});

describe('decide() while transports race', () => {
  const state = { transports: 3, attempt: 0, authFailures: 0, best: 0 };
  it('a failure with none left to start, others still trying: race-on', () => {
    expect(
      decide({ code: 1006, reason: '', fallback: 3 }, { ...state, racing: 1 }, defaultReconnect, () => 0.5),
    ).toEqual({
      kind: 'race-on',
    });
  });
  it('one left to start: it starts at once, racing or not', () => {
    expect(
      decide({ code: 1006, reason: '', fallback: 2 }, { ...state, racing: 1 }, defaultReconnect, () => 0.5),
    ).toEqual({
      kind: 'fallback',
      to: 2,
    });
  });
  it('a do-not-reconnect code ends the race whatever still tries', () => {
    expect(
      decide({ code: 4403, reason: 'origin', fallback: 3 }, { ...state, racing: 2 }, defaultReconnect, () => 0.5).kind,
    ).toBe('give-up');
  });
  it('none racing and none left: wait, from the first', () => {
    expect(
      decide({ code: 1006, reason: '', fallback: 3 }, { ...state, racing: 0 }, defaultReconnect, () => 0.5),
    ).toEqual({
      kind: 'wait',
      delay: 500,
      from: 0,
    });
  });
});
