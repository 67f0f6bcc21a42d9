import { describe, it, expect } from 'vitest';
import { nextState, type ConnectionState, type StateEvent } from '../../src/client/state';

const STATES: ConnectionState[] = ['connecting', 'open', 'reconnecting', 'closed'];
const EVENTS: StateEvent[] = ['connect', 'opened', 'dropped', 'ended'];

// Every state × event, written out.
const TABLE: [ConnectionState, StateEvent, ConnectionState][] = [
  ['connecting', 'connect', 'connecting'],
  ['connecting', 'opened', 'open'],
  ['connecting', 'dropped', 'reconnecting'],
  ['connecting', 'ended', 'closed'],
  ['open', 'connect', 'open'],
  ['open', 'opened', 'open'],
  ['open', 'dropped', 'reconnecting'],
  ['open', 'ended', 'closed'],
  ['reconnecting', 'connect', 'reconnecting'],
  ['reconnecting', 'opened', 'open'],
  ['reconnecting', 'dropped', 'reconnecting'],
  ['reconnecting', 'ended', 'closed'],
  ['closed', 'connect', 'connecting'],
  ['closed', 'opened', 'closed'],
  ['closed', 'dropped', 'closed'],
  ['closed', 'ended', 'closed'],
];

describe('nextState', () => {
  it('the table covers every state × event exactly once', () => {
    const keys = TABLE.map(([s, e]) => `${s}/${e}`);
    expect(new Set(keys).size).toBe(STATES.length * EVENTS.length);
    expect(keys.length).toBe(STATES.length * EVENTS.length);
  });

  it.each(TABLE)('%s + %s → %s', (from, event, to) => {
    expect(nextState(from, event)).toBe(to);
  });

  it.each(STATES)("'ended' from %s always gives closed", (from) => {
    expect(nextState(from, 'ended')).toBe('closed');
  });

  it("nothing leaves 'closed' except 'connect'", () => {
    for (const e of EVENTS) {
      const to = nextState('closed', e);
      if (e === 'connect') expect(to).toBe('connecting');
      else expect(to).toBe('closed');
    }
  });
});
