// @vitest-environment node
import { describe, expect, it } from 'vitest';
import type { RealtimeError, TransportName } from '../../src/index';
import { testScope, waitFor } from './harness';

const { server, client } = testScope();

describe.each<TransportName>(['websocket', 'long-poll'])('auth over %s', (transport) => {
  it('an expired token is refused with 4401: auth() is asked again and the fresh token gets in', async () => {
    const seen: Array<string | undefined> = [];
    const s = await server({ authenticate: (token) => (seen.push(token), token === 'fresh') });
    let calls = 0;
    const c = client(s.url, { transports: [transport], auth: async () => (++calls === 1 ? 'expired' : 'fresh') });
    const errors: RealtimeError[] = [];
    c.on('error', (e) => errors.push(e));
    await waitFor(() => c.state === 'open', 'open with the fresh token');
    expect(seen).toEqual(['expired', 'fresh']);
    expect(errors).toEqual([]);
  });

  it('a token refused 3 times in a row stops the client with unauthorized, and the token is in no message', async () => {
    const s = await server({ authenticate: () => false });
    let calls = 0;
    const c = client(s.url, { transports: [transport], auth: () => `secret-token-${++calls}` });
    const errors: RealtimeError[] = [];
    const closes: string[] = [];
    c.on('error', (e) => errors.push(e));
    c.on('close', (e) => closes.push(e.reason));
    await waitFor(() => c.state === 'closed', 'the client giving up');
    expect(calls).toBe(3);
    expect(errors.map((e) => e.code)).toEqual(['unauthorized']);
    for (const text of [...errors.map((e) => e.message), ...closes]) expect(text).not.toContain('secret-token');
  });
});
