import { describe, it, expect } from 'vitest';
import { duplicatesIn, ackIsUrgent, ACK_EVERY } from '../../src/protocol';

describe('duplicatesIn', () => {
  it.each([
    // [name, received, s, count, expected]
    ['no duplicate: frame starts right after received', 10, 11, 5, 0],
    ['no duplicate: first frame of a session', 0, 1, 3, 0],
    ['partial overlap: first 3 of 5 already delivered', 10, 8, 5, 3],
    ['partial overlap: only the first already delivered', 10, 10, 4, 1],
    ['complete duplicate: whole frame already delivered', 10, 3, 5, 5],
    ['complete duplicate: frame ends exactly at received', 10, 6, 5, 5],
    ['gap: frame starts one past the next expected', 10, 12, 5, -1],
    ['gap: nothing received and frame starts at 2', 0, 2, 1, -1],
  ])('%s', (_name, received, s, count, expected) => {
    expect(duplicatesIn(received, s, count)).toBe(expected);
  });
});

describe('ackIsUrgent', () => {
  it(`is false one short of ACK_EVERY (${ACK_EVERY}) unacknowledged`, () => {
    expect(ackIsUrgent(ACK_EVERY - 1, 0)).toBe(false);
    expect(ackIsUrgent(1000 + ACK_EVERY - 1, 1000)).toBe(false);
  });

  it('is true at exactly ACK_EVERY unacknowledged', () => {
    expect(ackIsUrgent(ACK_EVERY, 0)).toBe(true);
    expect(ackIsUrgent(1000 + ACK_EVERY, 1000)).toBe(true);
  });

  it('is true beyond ACK_EVERY and false when all is acknowledged', () => {
    expect(ackIsUrgent(ACK_EVERY * 3, 5)).toBe(true);
    expect(ackIsUrgent(42, 42)).toBe(false);
  });
});
