import { describe, expect, it } from 'vitest';
import { beat, type Pulse } from '../../src/server/heartbeat';

const HB = 1000;
const at = (p: Partial<Pulse>): Pulse => ({
  now: 10_000,
  lastSent: 10_000,
  lastReceived: 10_000,
  stall: null,
  buffered: 0,
  ...p,
});

describe('server heartbeat policy (docs/protocol.md §10)', () => {
  it('waits while both directions are live, and pings after hb without sending', () => {
    expect(beat(at({ lastSent: 10_000 - HB + 1 }), HB)).toEqual({ do: 'wait', stall: null });
    expect(beat(at({ lastSent: 10_000 - HB }), HB)).toEqual({ do: 'ping', stall: null });
  });

  it('drops a connection silent for 2 × hb, before anything else', () => {
    expect(beat(at({ lastReceived: 10_000 - 2 * HB + 1, lastSent: 0 }), HB)).toMatchObject({ do: 'ping' });
    expect(beat(at({ lastReceived: 10_000 - 2 * HB, lastSent: 0 }), HB)).toEqual({
      do: 'drop',
      reason: 'heartbeat timeout',
    });
  });

  it('drops a connection whose backlog has not shrunk for 2 × hb while output waits', () => {
    const stall = { since: 10_000 - 2 * HB, buffered: 5000 };
    expect(beat(at({ stall, buffered: 5000 }), HB)).toEqual({
      do: 'drop',
      reason: 'not reading: its backlog did not shrink for 2000 ms',
    });
    expect(beat(at({ stall, buffered: 6000 }), HB)).toMatchObject({ do: 'drop' }); // grew: still not reading
    expect(beat(at({ stall: { ...stall, since: 10_000 - 2 * HB + 1 }, buffered: 5000 }), HB)).toEqual({
      do: 'wait',
      stall: { since: 10_000 - 2 * HB + 1, buffered: 5000 },
    });
  });

  it('a backlog that shrank is progress: the stall starts again from now', () => {
    const stall = { since: 0, buffered: 5000 };
    expect(beat(at({ stall, buffered: 4999 }), HB)).toEqual({ do: 'wait', stall: { since: 10_000, buffered: 4999 } });
  });
});
