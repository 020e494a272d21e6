/**
 * An open-loop load generator: requests are sent on a fixed schedule (one every 1000/rate ms, whatever the
 * server is doing), over a pool of keep-alive connections, and each latency is measured from the moment the
 * request was due to be sent to the end of its response. A server that stalls therefore shows the full
 * stall in every request that was due during it, as a sender such as PagerDuty would see it, instead of
 * the stall hiding in requests never sent (the "coordinated omission" of closed-loop tools; autocannon's
 * `overallRate` also sends each connection's quota for a second back to back, which is a burst, not a rate).
 */
import http from 'node:http';

export interface FixedRateRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface FixedRateOptions {
  url: string;
  /** Requests per second, spread evenly. */
  rate: number;
  seconds: number;
  /** Keep-alive connections at most; a request due while all are busy waits for one (and that wait counts). */
  connections: number;
  /** Builds the next request (called when it is due). */
  next: () => FixedRateRequest;
  /** Whether an answer is the expected one; called once per response. */
  check: (status: number, body: string, request: FixedRateRequest) => boolean;
  /** How long to wait at the end for answers still in flight before counting them as timeouts. */
  settleMs?: number;
}

export interface FixedRateResult {
  /** Latency of each correct answer, ms, from when its request was due. */
  samples: number[];
  sent: number;
  /** Answers that were not 2xx. */
  non2xx: number;
  /** 2xx answers whose body the check refused. */
  mismatches: number;
  /** Socket errors. */
  errors: number;
  /** Requests without an answer when the run ended. */
  timeouts: number;
  /** Wall time from the first due request to the last answer, s. */
  seconds: number;
  /** How far behind schedule the generator itself fell at worst, ms (a busy driver, not the server). */
  maxSendLagMs: number;
}

export async function fixedRate(opts: FixedRateOptions): Promise<FixedRateResult> {
  const target = new URL(opts.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections, maxFreeSockets: opts.connections });
  const result: FixedRateResult = { samples: [], sent: 0, non2xx: 0, mismatches: 0, errors: 0, timeouts: 0, seconds: 0, maxSendLagMs: 0 };
  const total = Math.round(opts.rate * opts.seconds);
  const interval = 1000 / opts.rate;
  let inFlight = 0;
  let lastAnswerAt = 0;
  let allAnswered: (() => void) | undefined;

  const send = (due: number): void => {
    const request = opts.next();
    inFlight++;
    result.sent++;
    const finish = (): void => {
      inFlight--;
      lastAnswerAt = performance.now();
      if (inFlight === 0 && result.sent === total) allAnswered?.();
    };
    const req = http.request(
      { host: target.hostname, port: target.port, path: request.path, method: 'POST', agent, headers: { ...request.headers, 'Content-Length': String(Buffer.byteLength(request.body)) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const latency = performance.now() - due;
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) result.non2xx++;
          else if (!opts.check(status, Buffer.concat(chunks).toString('utf8'), request)) result.mismatches++;
          else result.samples.push(latency);
          finish();
        });
      },
    );
    req.on('error', () => {
      result.errors++;
      finish();
    });
    req.end(request.body);
  };

  const start = performance.now();
  await new Promise<void>((resolve) => {
    let i = 0;
    const tick = (): void => {
      const now = performance.now();
      while (i < total && start + i * interval <= now) {
        const due = start + i * interval;
        result.maxSendLagMs = Math.max(result.maxSendLagMs, now - due);
        send(due);
        i++;
      }
      if (i < total) setTimeout(tick, Math.max(0, Math.min(interval, start + i * interval - performance.now())));
      else resolve();
    };
    tick();
  });
  if (inFlight > 0) {
    await Promise.race([
      new Promise<void>((resolve) => (allAnswered = resolve)),
      new Promise<void>((resolve) => setTimeout(resolve, opts.settleMs ?? 10_000)),
    ]);
  }
  result.timeouts = inFlight;
  result.seconds = ((inFlight === 0 ? lastAnswerAt : performance.now()) - start) / 1000;
  agent.destroy();
  return result;
}
