import type { Clock, TimerHandle } from '../clock/clock.js';

/** Slack waits 3 s for the ack; leave room for the network. */
export const ACK_BUDGET_MS = 2_000;

/**
 * Waits for `work` until the ack budget runs out. Commands and clicks decide and commit before they ack, so
 * a crash after the ack loses nothing; work that takes longer is acked at the budget and finishes after.
 * `budgetMs` is what is left of it when something (the role check) already ran since the request arrived.
 */
export async function withinAckBudget<T>(work: Promise<T>, clock: Clock, budgetMs = ACK_BUDGET_MS): Promise<{ done: T } | 'late'> {
  let timer: TimerHandle | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = clock.setTimer(Math.max(0, budgetMs), () => resolve('late'));
  });
  try {
    return await Promise.race([work.then((done) => ({ done })), late]);
  } finally {
    timer?.cancel();
  }
}
