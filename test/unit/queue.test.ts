import { describe, it, expect, vi } from 'vitest';
import { Outbox, type Pending } from '../../src/client/queue';

/** Pushes a message with the given byte size; returns its resolve/reject spies. */
function add(box: Outbox, label: string, bytes = 10, log?: string[]) {
  const resolve = vi.fn(() => log?.push(label));
  const reject = vi.fn();
  box.push({ json: JSON.stringify(label), bytes, data: label, resolve, reject });
  return { resolve, reject };
}
const seqs = (ps: Pending[]) => ps.map((p) => p.seq);
const datas = (ps: Pending[]) => ps.map((p) => p.data);

describe('Outbox.refuse', () => {
  it('accepts while under both limits', () => {
    const box = new Outbox({ maxMessages: 2, maxBytes: 100 });
    expect(box.refuse(100)).toBeUndefined();
    add(box, 'a', 50);
    expect(box.refuse(50)).toBeUndefined();
  });

  it('refuses by count once maxMessages are waiting, naming queue.maxMessages', () => {
    const box = new Outbox({ maxMessages: 2, maxBytes: 1e9 });
    add(box, 'a', 1);
    add(box, 'b', 1);
    expect(box.refuse(1)).toBe('queue.maxMessages');
  });

  it('refuses by bytes when the message would pass maxBytes, naming queue.maxBytes', () => {
    const box = new Outbox({ maxMessages: 100, maxBytes: 100 });
    add(box, 'a', 60);
    expect(box.refuse(40)).toBeUndefined();
    expect(box.refuse(41)).toBe('queue.maxBytes');
  });

  it('refuses a single message larger than maxBytes on an empty queue', () => {
    const box = new Outbox({ maxMessages: 100, maxBytes: 100 });
    expect(box.refuse(101)).toContain('queue.maxBytes');
  });
});

describe('Outbox.push / ack', () => {
  it('push assigns seq 1, 2, 3 and sums bytes', () => {
    const box = new Outbox({ maxMessages: 10, maxBytes: 1000 });
    add(box, 'a', 5);
    add(box, 'b', 7);
    add(box, 'c', 11);
    expect(seqs(box.items)).toEqual([1, 2, 3]);
    expect(box.nextSeq).toBe(4);
    expect(box.bytes).toBe(23);
  });

  it('ack(a) resolves exactly the items ≤ a, in order, and updates bytes', () => {
    const box = new Outbox({ maxMessages: 10, maxBytes: 1000 });
    const log: string[] = [];
    const a = add(box, 'a', 5, log);
    const b = add(box, 'b', 7, log);
    const c = add(box, 'c', 11, log);
    box.sent = 3;
    box.ack(2);
    expect(log).toEqual(['a', 'b']);
    expect(a.resolve).toHaveBeenCalledTimes(1);
    expect(b.resolve).toHaveBeenCalledTimes(1);
    expect(c.resolve).not.toHaveBeenCalled();
    expect([a, b, c].some((x) => x.reject.mock.calls.length)).toBe(false);
    expect(seqs(box.items)).toEqual([3]);
    expect(box.bytes).toBe(11);
  });

  it('a repeated or older ack resolves nothing twice', () => {
    const box = new Outbox({ maxMessages: 10, maxBytes: 1000 });
    const a = add(box, 'a');
    add(box, 'b');
    box.sent = 2;
    box.ack(1);
    box.ack(1);
    box.ack(0);
    expect(a.resolve).toHaveBeenCalledTimes(1);
    expect(seqs(box.items)).toEqual([2]);
    expect(box.sent).toBe(2);
  });
});

describe('Outbox.unsent / rewind / restart / take', () => {
  it('unsent() returns the items after `sent`', () => {
    const box = new Outbox({ maxMessages: 10, maxBytes: 1000 });
    for (const l of ['a', 'b', 'c', 'd']) add(box, l);
    expect(seqs(box.unsent())).toEqual([1, 2, 3, 4]);
    box.sent = 2;
    expect(seqs(box.unsent())).toEqual([3, 4]);
    box.sent = 4;
    expect(box.unsent()).toEqual([]);
  });

  it('rewind(a) acks ≤ a and makes the rest unsent again', () => {
    const box = new Outbox({ maxMessages: 10, maxBytes: 1000 });
    const log: string[] = [];
    for (const l of ['a', 'b', 'c', 'd']) add(box, l, 10, log);
    box.sent = 4;
    box.rewind(1);
    expect(log).toEqual(['a']);
    expect(box.sent).toBe(1);
    expect(seqs(box.unsent())).toEqual([2, 3, 4]);
    expect(box.bytes).toBe(30);
  });

  it('restart() returns the sent-but-unacked items, renumbers the unsent ones from 1 and resets nextSeq', () => {
    const box = new Outbox({ maxMessages: 10, maxBytes: 1000 });
    for (const l of ['a', 'b', 'c', 'd', 'e']) add(box, l, 10);
    box.sent = 3;
    box.ack(1); // a resolved; b, c sent but unacked; d, e never sent
    const lost = box.restart();
    expect(datas(lost)).toEqual(['b', 'c']);
    expect(lost.every((p) => (p.resolve as ReturnType<typeof vi.fn>).mock.calls.length === 0)).toBe(true);
    expect(datas(box.items)).toEqual(['d', 'e']);
    expect(seqs(box.items)).toEqual([1, 2]);
    expect(box.nextSeq).toBe(3);
    expect(box.sent).toBe(0);
    expect(box.bytes).toBe(20);
    expect(seqs(box.unsent())).toEqual([1, 2]);
    add(box, 'f');
    expect(seqs(box.items)).toEqual([1, 2, 3]);
  });

  it('restart() with nothing sent loses nothing', () => {
    const box = new Outbox({ maxMessages: 10, maxBytes: 1000 });
    add(box, 'a');
    add(box, 'b');
    expect(box.restart()).toEqual([]);
    expect(seqs(box.items)).toEqual([1, 2]);
    expect(box.nextSeq).toBe(3);
  });

  it('take(n) removes the first n and take() removes all, keeping bytes right', () => {
    const box = new Outbox({ maxMessages: 10, maxBytes: 1000 });
    add(box, 'a', 1);
    add(box, 'b', 2);
    add(box, 'c', 4);
    expect(datas(box.take(2))).toEqual(['a', 'b']);
    expect(box.bytes).toBe(4);
    expect(datas(box.take())).toEqual(['c']);
    expect(box.items).toEqual([]);
    expect(box.bytes).toBe(0);
  });
});

describe('Outbox.adopt and the change hook (queue.persist)', () => {
  const earlier = (seq: number, label: string): Pending => ({
    seq,
    json: JSON.stringify(label),
    bytes: 5,
    data: label,
    resolve() {},
    reject() {},
  });

  it("puts an earlier page's messages first, keeping their seqs, and renumbers this page's after them", () => {
    const box = new Outbox({ maxMessages: 10, maxBytes: 1000 });
    add(box, 'new', 3);
    box.adopt([earlier(4, 'old 4'), earlier(5, 'old 5')], 4);
    expect(datas(box.items)).toEqual(['old 4', 'old 5', 'new']);
    expect(seqs(box.items)).toEqual([4, 5, 6]);
    expect(box.sent).toBe(4);
    expect(box.nextSeq).toBe(7);
    expect(box.bytes).toBe(13);
    expect(seqs(box.unsent())).toEqual([5, 6]);
  });

  it('calls the change hook on push, ack, remove, marking sent, rewind and restart', () => {
    const changed = vi.fn();
    const box = new Outbox({ maxMessages: 10, maxBytes: 1000 }, changed);
    const step = (what: () => void) => {
      changed.mockClear();
      what();
      return changed.mock.calls.length > 0;
    };
    expect(step(() => add(box, 'a'))).toBe(true);
    add(box, 'b');
    add(box, 'c');
    expect(step(() => (box.sent = 1))).toBe(true);
    expect(step(() => box.ack(1))).toBe(true);
    expect(step(() => box.remove(box.items.at(-1)!))).toBe(true);
    expect(step(() => box.rewind(1))).toBe(true);
    expect(step(() => box.restart())).toBe(true);
    expect(step(() => box.ack(0))).toBe(false);
  });
});

describe('Outbox.rewind after adopt, with a server ahead of the saved queue', () => {
  it("acks the earlier page's messages the server has, and moves this page's own past the seqs the server already holds", () => {
    const box = new Outbox({ maxMessages: 10, maxBytes: 1000 });
    add(box, 'mine');
    box.adopt([{ seq: 2, json: '"saved"', bytes: 7, data: 'saved', resolve: vi.fn(), reject: vi.fn() }], 1);
    expect(seqs(box.items)).toEqual([2, 3]);
    box.rewind(5); // the earlier page sent 2..5 after its last save
    expect(datas(box.items)).toEqual(['mine']);
    expect(seqs(box.unsent())).toEqual([6]);
    expect(box.nextSeq).toBe(7);
    box.rewind(5); // a later resume: nothing moves again
    expect(seqs(box.items)).toEqual([6]);
  });
});
