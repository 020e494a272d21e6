/**
 * Faults a test has asked a stand-in to inject, queued per target (a Web API method, `response_url`, the
 * REST or Events API): the oldest applies to the next request on its target, `times` requests in a row.
 */
export class FaultQueue<Target, Fault> {
  private readonly queues = new Map<Target, { fault: Fault; remaining: number }[]>();

  add(target: Target, fault: Fault, times = 1): void {
    const queue = this.queues.get(target) ?? [];
    queue.push({ fault, remaining: times });
    this.queues.set(target, queue);
  }

  /** The fault for the next request on `target`, if any; using it counts down its remaining requests. */
  take(target: Target): Fault | undefined {
    const queue = this.queues.get(target);
    const head = queue?.[0];
    if (!queue || !head) return undefined;
    if (--head.remaining <= 0) queue.shift();
    return head.fault;
  }

  clear(): void {
    this.queues.clear();
  }
}
