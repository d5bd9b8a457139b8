/**
 * Small measuring tools shared by the benchmarks. Benchmarks print numbers;
 * they never assert on them.
 */
import { spawn } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';

export interface Measured {
  code: number | null;
  ms: number;
  /** Peak resident set size of the child, in MB. */
  peakRssMB: number;
  stdout: string;
  stderr: string;
}

/** VmHWM of a live process in kB, or 0 once it is gone. */
export function peakRssKB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Run a command to completion, timing it and taking its peak RSS. With
 * /usr/bin/time the peak comes from wait4() and is exact; without it /proc is
 * sampled every 10 ms, which can miss a final spike.
 */
export async function runMeasured(
  cmd: string,
  args: string[],
  opts: { cwd?: string; keepStdout?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<Measured> {
  const haveTime = existsSync('/usr/bin/time');
  const [file, argv] = haveTime ? ['/usr/bin/time', ['-f', 'LPMQTT_BENCH_MAXRSS=%M', cmd, ...args]] : [cmd, args];
  const started = process.hrtime.bigint();
  const child = spawn(file, argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let sampled = 0;
  child.stdout.on('data', (c: Buffer) => {
    if (opts.keepStdout) stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const timer = haveTime
    ? undefined
    : setInterval(() => {
        sampled = Math.max(sampled, peakRssKB(child.pid ?? 0));
      }, 10);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (timer) clearInterval(timer);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const m = /LPMQTT_BENCH_MAXRSS=(\d+)/.exec(stderr);
  const kb = m ? Number(m[1]) : sampled;
  return { code, ms, peakRssMB: kb / 1024, stdout, stderr: stderr.replace(/LPMQTT_BENCH_MAXRSS=\d+\n?/, '') };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : String(n);
}
