import { describe, expect, it } from 'vitest';
import { InflightWork } from '../../src/lifecycle/inflight.js';

/** A promise the test settles by hand. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('InflightWork', () => {
  it('counts tracked work until it settles, and hands back the same promise', async () => {
    const work = new InflightWork();
    const a = deferred<string>();
    const tracked = work.track(a.promise);
    expect(tracked).toBe(a.promise);
    expect(work.size).toBe(1);
    a.resolve('done');
    await expect(tracked).resolves.toBe('done');
    await work.drain();
    expect(work.size).toBe(0);
  });

  it('drain waits for everything, including work started while draining', async () => {
    const work = new InflightWork();
    const first = deferred();
    const second = deferred();
    const order: string[] = [];
    void work.track(first.promise.then(() => order.push('first')));
    let drained = false;
    const draining = work.drain().then(() => (drained = true));
    // Work started after the drain began (a follow-up of the first task) is waited for too.
    void work.track(second.promise.then(() => order.push('second')));
    first.resolve();
    await first.promise;
    await new Promise((r) => setImmediate(r));
    expect(drained).toBe(false);
    second.resolve();
    await draining;
    expect(order).toEqual(['first', 'second']);
    expect(work.size).toBe(0);
  });

  it('a task that fails neither breaks drain nor leaves an unhandled rejection behind', async () => {
    const work = new InflightWork();
    const failing = deferred();
    const tracked = work.track(failing.promise);
    failing.reject(new Error('button handler blew up'));
    await expect(tracked).rejects.toThrow('button handler blew up');
    await work.drain();
    expect(work.size).toBe(0);
  });

  it('drain with nothing in flight returns at once', async () => {
    await expect(new InflightWork().drain()).resolves.toBeUndefined();
  });
});
