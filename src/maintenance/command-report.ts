import type { CommandSpec } from '../config/operations-schema.js';
import { describeResult, lastLines, type ProcessRunner, type RunResult } from '../runner/runner.js';
import { escapeMrkdwn, truncate } from '../core/text.js';

export interface CommandReport {
  result: RunResult;
  /** mrkdwn: the command, its outcome and the tail of its output in a code block. */
  text: string;
}

const TAIL_LINES = 15;

/** Runs one configured maintenance command through the runner and describes the outcome for Slack. */
export async function runAndReport(runner: ProcessRunner, label: string, spec: CommandSpec): Promise<CommandReport> {
  const result = await runner.run({ argv: spec.run, timeoutMs: spec.timeout });
  const icon = result.ok ? '✅' : '❌';
  const tail = lastLines(result.output, TAIL_LINES).trim();
  // Backticks inside a code block would end it early.
  const block = tail ? `\n\`\`\`${truncate(tail.replace(/```/g, "'''"), 2500)}\`\`\`` : '';
  const text = `${icon} *${escapeMrkdwn(label)}* \`${escapeMrkdwn(spec.run.join(' '))}\`: ${describeResult(result)}${block}`;
  return { result, text };
}
