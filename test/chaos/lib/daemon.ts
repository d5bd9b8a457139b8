/**
 * The daemon as a process, the way it runs in production: `node dist/cli.js
 * run -c FILE`, pino JSON on stdout. Every log line of every run is kept (with
 * the run number) so tests can look for the reason a mail was set aside, count
 * reconnects, or show the tail when something goes wrong.
 *
 *   const d = new Daemon(config);
 *   await d.start();
 *   await d.kill9(); await d.start();   // same config, next run
 *   d.peakRssKB();                       // VmHWM of the current run
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { killGroup, spawnServer, type ServerProcess } from '../../helpers/proc.js';
import { until } from './env.js';

export const REPO = resolve(import.meta.dirname, '../../..');
export const CLI = join(REPO, 'dist/cli.js');

/** One stdout line of the daemon: the parsed pino object (or `{ raw }` when not JSON). */
export interface LogLine {
  run: number;
  at: number;
  level?: number;
  msg?: string;
  raw: string;
  [key: string]: unknown;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

let buildChecked = false;

/**
 * dist/ must be the compiled current src/: `npm run test:chaos` builds first,
 * but one test file run on its own does not, so rebuild when a source is newer.
 */
export function ensureBuilt(): void {
  if (buildChecked) return;
  const src = newestMtime(join(REPO, 'src'));
  const fresh = existsSync(CLI) && existsSync(join(REPO, 'dist/bridge.js')) && statSync(CLI).mtimeMs >= src && statSync(join(REPO, 'dist/bridge.js')).mtimeMs >= src;
  if (!fresh) {
    try {
      execFileSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(REPO, 'tsconfig.build.json')], {
        cwd: REPO,
        stdio: 'pipe',
      });
    } catch (err) {
      const out = (err as { stdout?: Buffer }).stdout?.toString() ?? '';
      throw new Error(`npm run build failed; the chaos tests run dist/cli.js:\n${out.slice(0, 4000)}`, { cause: err });
    }
  }
  if (!existsSync(join(REPO, 'dist/bridge.js'))) throw new Error('dist/bridge.js is missing after the build (src/bridge.ts not written yet?)');
  buildChecked = true;
}

export interface DaemonExit {
  run: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class Daemon {
  readonly lines: LogLine[] = [];
  readonly exits: DaemonExit[] = [];
  readonly configFile: string;
  private readonly dir: string;
  private proc: ServerProcess | undefined;
  private runs = 0;
  /** Highest VmHWM seen over all runs (kB), sampled. */
  private peakSeen = 0;
  private sampler: NodeJS.Timeout | undefined;
  private lineWaiters = new Set<() => void>();

  /** `nodeArgs` go to node before the script (such as `--inspect=127.0.0.1:PORT`). */
  constructor(config: object, private readonly env: NodeJS.ProcessEnv = {}, private readonly nodeArgs: readonly string[] = []) {
    ensureBuilt();
    this.dir = mkdtempSync(join(tmpdir(), 'lpmqtt-chaos-'));
    this.configFile = join(this.dir, 'lpmqtt.json');
    this.setConfig(config);
  }

  /** Takes effect at the next start(). */
  setConfig(config: object): void {
    writeFileSync(this.configFile, JSON.stringify(config, null, 2));
  }

  get run(): number {
    return this.runs;
  }

  get pid(): number | undefined {
    return this.proc?.running() ? this.proc.pgid : undefined;
  }

  get running(): boolean {
    return this.proc?.running() ?? false;
  }

  /** Spawn the next run; resolves once the process is up (not once it is connected). */
  async start(): Promise<void> {
    if (this.running) throw new Error('daemon already running');
    const run = ++this.runs;
    const proc = spawnServer(process.execPath, [...this.nodeArgs, CLI, 'run', '-c', this.configFile], {
      cwd: this.dir,
      env: { ...process.env, NODE_ENV: 'production', ...this.env },
    });
    this.proc = proc;
    let buf = '';
    proc.child.stdout?.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        this.addLine(run, buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    proc.child.stderr?.on('data', (chunk: Buffer) => {
      for (const l of chunk.toString('utf8').split('\n')) if (l !== '') this.addLine(run, `[stderr] ${l}`);
    });
    void proc.exited.then(({ code, signal }) => {
      if (buf !== '') this.addLine(run, buf);
      buf = '';
      this.exits.push({ run, code, signal });
      this.notify();
    });
    clearInterval(this.sampler);
    this.sampler = setInterval(() => this.samplePeak(), 100);
    this.sampler.unref();
    await new Promise<void>((res, rej) => {
      proc.child.once('spawn', res);
      proc.child.once('error', rej);
    });
  }

  private addLine(run: number, raw: string): void {
    let line: LogLine;
    try {
      const obj = JSON.parse(raw) as Record<string, unknown>;
      line = { ...obj, run, at: Date.now(), raw } as LogLine;
    } catch {
      line = { run, at: Date.now(), raw };
    }
    this.lines.push(line);
    this.notify();
  }

  private notify(): void {
    for (const w of this.lineWaiters) w();
  }

  /** kill -9 (the whole process group), then wait until it is gone. */
  async kill9(): Promise<void> {
    if (!this.proc) return;
    this.samplePeak();
    await killGroup(this.proc);
  }

  /** SIGTERM, wait up to `graceMs`, then SIGKILL. Returns the exit. */
  async stop(graceMs = 15_000): Promise<DaemonExit | undefined> {
    const proc = this.proc;
    if (proc) {
      this.samplePeak();
      // Not helpers' stopGroup(): its grace timer is never cleared and keeps the test process alive.
      if (proc.running()) {
        try {
          process.kill(proc.pgid, 'SIGTERM');
        } catch {
          // gone already
        }
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<void>((res) => {
          timer = setTimeout(res, graceMs);
        });
        await Promise.race([proc.exited, grace]);
        clearTimeout(timer);
      }
      await killGroup(proc);
    }
    clearInterval(this.sampler);
    return this.exits.at(-1);
  }

  /** stop() and remove the config dir. */
  async dispose(): Promise<void> {
    await this.stop(5000);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private samplePeak(): void {
    const pid = this.pid;
    if (pid === undefined) return;
    this.peakSeen = Math.max(this.peakSeen, readStatusKB(pid, 'VmHWM'));
  }

  /** VmHWM (peak RSS) of the current run in kB (0 when not running). */
  peakRssKB(): number {
    const pid = this.pid;
    return pid === undefined ? 0 : readStatusKB(pid, 'VmHWM');
  }

  /** Highest peak RSS over every run so far, kB. */
  peakRssAllRunsKB(): number {
    this.samplePeak();
    return this.peakSeen;
  }

  /** VmRSS (current RSS) in kB. */
  rssKB(): number {
    const pid = this.pid;
    return pid === undefined ? 0 : readStatusKB(pid, 'VmRSS');
  }

  /** Lines of the current (or given) run. */
  linesOf(run = this.runs): LogLine[] {
    return this.lines.filter((l) => l.run === run);
  }

  /** Resolves with the first line (from index `from` on) that matches; rejects after `ms` with the log tail. */
  async waitForLine(pred: (l: LogLine) => boolean, ms: number, from = 0): Promise<LogLine> {
    let found: LogLine | undefined;
    await new Promise<void>((res, rej) => {
      const check = (): void => {
        for (let i = from; i < this.lines.length; i++) {
          const l = this.lines[i] as LogLine;
          if (pred(l)) {
            found = l;
            break;
          }
        }
        if (found) {
          clearTimeout(timer);
          this.lineWaiters.delete(check);
          res();
        }
      };
      const timer = setTimeout(() => {
        this.lineWaiters.delete(check);
        rej(new Error(`no matching daemon log line within ${ms} ms; tail:\n${this.tail(30)}`));
      }, ms);
      this.lineWaiters.add(check);
      check();
    });
    return found as LogLine;
  }

  /** Waits until the current run has logged both "IMAP connected" and "MQTT connected". */
  async waitConnected(ms = 30_000): Promise<void> {
    const run = this.runs;
    await this.waitForLine((l) => l.run === run && isImapUp(l), ms);
    await this.waitForLine((l) => l.run === run && isMqttUp(l), ms);
  }

  /** The last `n` lines as text (for failure messages). */
  tail(n = 40): string {
    return this.lines.slice(-n).map((l) => `[run ${l.run}] ${l.raw.slice(0, 600)}`).join('\n');
  }

  /** Writes every log line to `file` (for a failure: the whole story, not just the tail). */
  dump(file: string): void {
    writeFileSync(file, this.lines.map((l) => `[run ${l.run} ${new Date(l.at).toISOString()}] ${l.raw}`).join('\n') + '\n');
  }

  /** Lines at warn (40) or above. */
  problems(): LogLine[] {
    return this.lines.filter((l) => (l.level ?? 0) >= 40 || l.raw.startsWith('[stderr]'));
  }

  async untilExited(ms: number): Promise<DaemonExit> {
    await until('daemon exit', () => !this.running, ms, () => this.tail(20));
    return this.exits.at(-1) as DaemonExit;
  }
}

/** The daemon's "IMAP session up, folder selected" line. */
export function isImapUp(l: LogLine): boolean {
  return typeof l.msg === 'string' && /^IMAP connected/.test(l.msg);
}

/** The daemon's "MQTT connected" line. */
export function isMqttUp(l: LogLine): boolean {
  return typeof l.msg === 'string' && /^MQTT connected/.test(l.msg);
}

function readStatusKB(pid: number, key: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
