/**
 * Small measuring tools shared by the benchmarks. Benchmarks print numbers;
 * they never assert on them.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import WebSocket from 'ws';

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

/** CPU time (ms, user + system) of `root` and every live descendant, from /proc; 0 for what is gone. */
export function treeCpuMs(root: number | undefined): number {
  if (root === undefined) return 0;
  const tick = 1000 / 100; // USER_HZ is 100 on Linux
  const children = new Map<number, number[]>();
  const cpu = new Map<number, number>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return 0;
  }
  for (const p of pids) {
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8');
      // Fields after the ")" of the command name: state ppid … utime(12th) stime(13th).
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const pid = Number(p);
      const ppid = Number(f[1]);
      cpu.set(pid, (Number(f[11]) + Number(f[12])) * tick);
      const siblings = children.get(ppid);
      if (siblings) siblings.push(pid);
      else children.set(ppid, [pid]);
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop() as number;
    total += cpu.get(pid) ?? 0;
    todo.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** Runs `fn`, returning its result with the CPU time it took in this process and in the process trees of `others`. */
export async function withCpu<T>(fn: () => Promise<T>, others: Record<string, number | undefined>): Promise<{ value: T; wallMs: number; selfMs: number; othersMs: Record<string, number> }> {
  const before = Object.fromEntries(Object.entries(others).map(([k, pid]) => [k, treeCpuMs(pid)]));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const othersMs = Object.fromEntries(Object.entries(others).map(([k, pid]) => [k, treeCpuMs(pid) - (before[k] ?? 0)]));
  return { value, wallMs, selfMs: (c.user + c.system) / 1000, othersMs };
}

/** Least-squares slope of y over x. */
export function slope(points: ReadonlyArray<[x: number, y: number]>): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

/**
 * The live heap (MB) of the process whose inspector listens on `port`: a full
 * GC, then V8's heap in use. Undefined when it does not answer in time.
 */
export async function liveHeapMB(port: number): Promise<number | undefined> {
  let ws: WebSocket | undefined;
  try {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(3000) })).json()) as Array<{ webSocketDebuggerUrl: string }>;
    const url = targets[0]?.webSocketDebuggerUrl;
    if (!url) return undefined;
    const sock = new WebSocket(url);
    ws = sock;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('inspector: no connection')), 3000);
      sock.once('open', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
      sock.once('error', reject);
    });
    let id = 0;
    const call = (method: string): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) => {
        const mine = ++id;
        const timer = setTimeout(() => reject(new Error(`${method}: no answer`)), 5000);
        const onMessage = (data: WebSocket.RawData): void => {
          const msg = JSON.parse(String(data)) as { id?: number; result?: Record<string, unknown> };
          if (msg.id !== mine) return;
          clearTimeout(timer);
          sock.off('message', onMessage);
          resolve(msg.result ?? {});
        };
        sock.on('message', onMessage);
        sock.send(JSON.stringify({ id: mine, method }));
      });
    await call('HeapProfiler.collectGarbage');
    const usage = await call('Runtime.getHeapUsage');
    return typeof usage['usedSize'] === 'number' ? usage['usedSize'] / 2 ** 20 : undefined;
  } catch {
    return undefined;
  } finally {
    ws?.close();
  }
}

/**
 * The positive numbers given on the command line as `--flag N`, by the
 * option names they stand for (`{ dropEvery: 'drop-every' }`); an option
 * that is missing or not a positive number is left out.
 */
export function positiveArgs<K extends string>(flags: Record<K, string>, argv: readonly string[] = process.argv): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = {};
  for (const key of Object.keys(flags) as K[]) {
    const i = argv.indexOf(`--${flags[key]}`);
    const v = i >= 0 ? Number(argv[i + 1]) : NaN;
    if (Number.isFinite(v) && v > 0) out[key] = v;
  }
  return out;
}
