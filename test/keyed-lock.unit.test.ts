// KeyedLock: one holder per key, several keys taken in sorted order (opposite orders cannot deadlock),
// a bounded queue per key, and nothing left behind once drained.
import { describe, expect, it } from 'vitest';
import { KeyedLock, LockQueueFullError } from '../src/application/keyed-lock.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('KeyedLock', () => {
  it('runs work on one key one at a time, in arrival order, and different keys in parallel', async () => {
    const lock = new KeyedLock(100);
    const log: string[] = [];
    let inside = 0;
    let maxInside = 0;
    const job = (key: string, name: string) => lock.run([key], async () => {
      inside += 1;
      maxInside = Math.max(maxInside, inside);
      log.push(`start ${name}`);
      await tick();
      log.push(`end ${name}`);
      inside -= 1;
    });
    await Promise.all([job('a', 'a1'), job('a', 'a2'), job('a', 'a3')]);
    expect(log).toEqual(['start a1', 'end a1', 'start a2', 'end a2', 'start a3', 'end a3']);
    expect(maxInside).toBe(1);
    maxInside = 0;
    await Promise.all([job('x', 'x'), job('y', 'y')]);
    expect(maxInside).toBe(2);
    expect(lock.size).toBe(0);
  });

  it('takes several keys in sorted order: opposite transfers do not deadlock', async () => {
    const lock = new KeyedLock(1_000);
    let done = 0;
    await Promise.all(Array.from({ length: 200 }, (_, i) => lock.run(i % 2 ? ['a', 'b'] : ['b', 'a'], async () => {
      await tick();
      done += 1;
    })));
    expect(done).toBe(200);
    expect(lock.size).toBe(0);
  });

  it('refuses a caller past the queue bound instead of queueing it, and releases on a thrown error', async () => {
    const lock = new KeyedLock(2);
    let release!: () => void;
    const held = lock.run(['k'], () => new Promise<void>((r) => (release = r)));
    const queued = lock.run(['k'], async () => 'second');
    await expect(lock.run(['k'], async () => 'third')).rejects.toBeInstanceOf(LockQueueFullError);
    release();
    await held;
    expect(await queued).toBe('second');
    await expect(lock.run(['k'], async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(await lock.run(['k'], async () => 'after')).toBe('after');
    expect(lock.size).toBe(0);
  });
});
