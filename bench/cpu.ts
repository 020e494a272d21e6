/**
 * CPU accounting from /proc (Linux), so a benchmark can say how much of the machine it had to itself:
 * the server's CPU time per request is robust to neighbours, latency is not. Elsewhere every reading is
 * undefined and the report leaves those columns out.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** Linux reports /proc times in USER_HZ ticks, 100 per second on every mainstream kernel config. */
const TICK_MS = 10;

export interface MachineTimes {
  /** Non-idle CPU time over all cores, ms. */
  busyMs: number;
  /** Time the hypervisor ran someone else while we wanted a core, ms. */
  stealMs: number;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function machineTimes(): MachineTimes | undefined {
  const line = read('/proc/stat')?.split('\n')[0];
  if (!line?.startsWith('cpu ')) return undefined;
  // user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user)
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return { busyMs: (user + nice + system + irq + softirq) * TICK_MS, stealMs: steal * TICK_MS };
}

/** User + system CPU time of one process, ms. */
export function processCpuMs(pid: number): number | undefined {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // The command name (field 2) may contain spaces; fields after its closing parenthesis are plain.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the full line, i.e. 11 and 12 after the name.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) * TICK_MS : undefined;
}

/**
 * CPU time of a process and its children, ms: a server that forks a process per connection (PostgreSQL's
 * postmaster). The root's own time, what its children that ended have handed up to it when reaped
 * (cutime, cstime), and the time of its living children, so a child ending between two readings moves its
 * time from one term to another without it being lost or counted twice.
 */
export function processTreeCpuMs(rootPid: number): number | undefined {
  const root = read(`/proc/${rootPid}/stat`);
  if (!root) return undefined;
  const rootFields = root.slice(root.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime: fields 14–17 of the full line.
  let ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(rootFields[i]), 0);
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = read(`/proc/${name}/stat`);
    if (!stat) continue; // ended meanwhile: its time is in the root's cutime once reaped
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // ppid is field 4 of the full line, 1 after the name.
    if (Number(fields[1]) === rootPid) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return Number.isFinite(ticks) ? ticks * TICK_MS : undefined;
}
