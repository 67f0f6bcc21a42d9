import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  nextPhase,
  SessionLifetime,
  type PhaseChange,
  type PhaseEvent,
  type SessionPhase,
} from '../../src/server/lifetime';

const PHASES: SessionPhase[] = ['attached', 'detached', 'ended'];
const EVENTS: PhaseEvent[] = ['attach', 'detach', 'end'];

describe('session phase transitions (pure)', () => {
  it('a link takes it, its link goes, it ends', () => {
    expect(nextPhase('detached', 'attach')).toBe('attached');
    expect(nextPhase('attached', 'attach')).toBe('attached'); // a resume replacing a link here
    expect(nextPhase('attached', 'detach')).toBe('detached');
    expect(nextPhase('attached', 'end')).toBe('ended');
    expect(nextPhase('detached', 'end')).toBe('ended');
  });

  it('nothing brings an ended session back', () => {
    for (const event of EVENTS) expect(nextPhase('ended', event)).toBe('ended');
  });

  it('is total: every phase and event gives a phase', () => {
    for (const from of PHASES) for (const event of EVENTS) expect(PHASES).toContain(nextPhase(from, event));
  });
});

describe('SessionLifetime: one state, and an expiry that runs exactly while detached', () => {
  const TTL = 1000;
  let expired: number;
  let changes: PhaseChange[];
  let lifetime: SessionLifetime;

  beforeEach(() => {
    vi.useFakeTimers();
    expired = 0;
    changes = [];
    lifetime = new SessionLifetime(
      TTL,
      () => expired++,
      (c) => changes.push(c),
    );
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('starts detached with no expiry running (a new session is attached at once)', () => {
    expect(lifetime.phase).toBe('detached');
    vi.advanceTimersByTime(10 * TTL);
    expect(expired).toBe(0);
  });

  it('reports each change once, as {from, to}, and nothing for an event that changes nothing', () => {
    lifetime.apply('attach');
    lifetime.apply('attach');
    lifetime.apply('detach');
    lifetime.apply('end');
    lifetime.apply('attach');
    expect(changes).toEqual([
      { from: 'detached', to: 'attached' },
      { from: 'attached', to: 'detached' },
      { from: 'detached', to: 'ended' },
    ]);
    expect(lifetime.phase).toBe('ended');
  });

  it('entering detached starts the expiry; it runs out after ttl, and expiresAt says when', () => {
    lifetime.apply('attach');
    const before = Date.now();
    lifetime.apply('detach');
    expect(lifetime.expiresAt).toBe(before + TTL);
    vi.advanceTimersByTime(TTL - 1);
    expect(expired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(expired).toBe(1);
  });

  it('a resume (attach) or the end stops the expiry', () => {
    lifetime.apply('attach');
    lifetime.apply('detach');
    vi.advanceTimersByTime(TTL / 2);
    lifetime.apply('attach');
    vi.advanceTimersByTime(10 * TTL);
    expect(expired).toBe(0);
    lifetime.apply('detach');
    lifetime.apply('end');
    vi.advanceTimersByTime(10 * TTL);
    expect(expired).toBe(0);
  });

  it('startExpiry restarts the wait from now (a restored session, an attach that failed)', () => {
    lifetime.startExpiry();
    vi.advanceTimersByTime(TTL - 1);
    lifetime.startExpiry();
    vi.advanceTimersByTime(TTL - 1);
    expect(expired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(expired).toBe(1);
  });
});
