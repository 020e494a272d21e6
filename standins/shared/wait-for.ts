/**
 * Polls until `fn` yields something other than undefined/false (awaiting it when it returns a promise);
 * a thrown error counts as "not yet". For tests waiting on asynchronous deliveries: never a fixed sleep.
 */
export async function waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `: last error: ${lastError.message}` : '';
      throw new Error(`waitFor timed out after ${timeoutMs} ms${why}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
