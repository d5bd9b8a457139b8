/**
 * Process plumbing shared by the server harnesses (Cyrus, Mosquitto): spawn a
 * server in its own process group, keep the tail of its output for error
 * messages, wait for its TCP greeting, and make sure nothing outlives the
 * test process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const OUTPUT_LIMIT = 64 * 1024;

/**
 * Base for server instance dirs: $LPMQTT_TEST_TMPDIR, else /dev/shm when writable
 * (Cyrus fsyncs each delivery: ~6 ms on disk, ~2 ms on tmpfs), else os.tmpdir().
 */
export function defaultBaseDir(): string {
  const fromEnv = process.env.LPMQTT_TEST_TMPDIR;
  if (fromEnv) return fromEnv;
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

export interface ServerProcess {
  readonly child: ChildProcess;
  /** Process-group id (= pid of the spawned server; spawned detached). */
  readonly pgid: number;
  /** Resolves when the spawned process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Whether the spawned process is still running. */
  running(): boolean;
  /** The last 64 KiB of stdout+stderr. */
  output(): string;
}

export interface SpawnOptions {
  uid?: number;
  gid?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Spawn `cmd` detached (own process group), capture its output, track it for cleanup at exit. */
export function spawnServer(cmd: string, args: string[], opts: SpawnOptions = {}): ServerProcess {
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    env: opts.env ?? process.env,
  });
  let out = '';
  const append = (chunk: Buffer): void => {
    out += chunk.toString('utf8');
    if (out.length > OUTPUT_LIMIT) out = out.slice(out.length - OUTPUT_LIMIT);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let alive = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err) => {
      append(Buffer.from(`spawn ${cmd} failed: ${err.message}\n`));
      alive = false;
      resolve({ code: null, signal: null });
    });
    child.once('exit', (code, signal) => {
      alive = false;
      resolve({ code, signal });
    });
  });
  const pgid = child.pid ?? -1;
  if (pgid > 0) livePgids.add(pgid);
  void exited.then(() => {
    // The group may still hold children of the server (e.g. imapd); those are
    // killed by killGroup(), which removes the pgid itself.
  });
  return {
    child,
    pgid,
    exited,
    running: () => alive,
    output: () => out,
  };
}

/** SIGKILL the whole process group and wait for the leader to be gone. */
export async function killGroup(proc: ServerProcess): Promise<void> {
  if (proc.pgid > 0) {
    try {
      process.kill(-proc.pgid, 'SIGKILL');
    } catch {
      // group already gone
    }
    livePgids.delete(proc.pgid);
  }
  await proc.exited;
}

/**
 * Ask the leader to stop with `signal`, wait up to `graceMs`, then SIGKILL the
 * group (so children that the leader left behind go too).
 */
export async function stopGroup(proc: ServerProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
  if (proc.running()) {
    try {
      process.kill(proc.pgid, signal);
    } catch {
      // already gone
    }
    // A plain timer cleared on exit: a pending one would keep the test process alive for the whole grace period.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const result = await Promise.race([proc.exited.then(() => 'exited' as const), timeout]);
    clearTimeout(timer);
    if (result === 'timeout') {
      await killGroup(proc);
      return;
    }
  }
  // Sweep children left in the group, e.g. a forked imapd still closing.
  await killGroup(proc);
}

export class ServerStartError extends Error {
  override name = 'ServerStartError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Connect to 127.0.0.1:`port` until the server sends a first line matching
 * `greeting` (or, when `greeting` is null, until the TCP connect succeeds).
 * Fails early if `proc` exits; fails after `timeoutMs` otherwise.
 */
export async function waitForGreeting(
  port: number,
  greeting: RegExp | null,
  proc: ServerProcess,
  what: string,
  timeoutMs = 15000,
  abortIf?: RegExp,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no attempt';
  while (Date.now() < deadline) {
    if (!proc.running()) {
      throw new ServerStartError(`${what}: server exited before port ${port} answered; output:\n${squeeze(proc.output())}`);
    }
    if (abortIf?.test(proc.output())) {
      throw new ServerStartError(`${what}: server reported a fatal error; output:\n${squeeze(proc.output())}`);
    }
    const attempt = await tryGreeting(port, greeting);
    if (attempt === true) return;
    lastError = attempt;
    await sleep(15);
  }
  throw new ServerStartError(`${what}: port ${port} did not answer within ${timeoutMs} ms (${lastError}); output:\n${squeeze(proc.output())}`);
}

/** Collapse runs of identical lines ("bind: ... (x40)") so errors stay readable. */
export function squeeze(output: string): string {
  const out: string[] = [];
  let prev: string | undefined;
  let count = 0;
  const flush = (): void => {
    if (prev !== undefined) out.push(count > 1 ? `${prev} (x${count})` : prev);
  };
  for (const line of output.split('\n')) {
    if (line === prev) count++;
    else {
      flush();
      prev = line;
      count = 1;
    }
  }
  flush();
  return out.join('\n');
}

function tryGreeting(port: number, greeting: RegExp | null): Promise<true | string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (result: true | string): void => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(3000, () => done('timeout waiting for greeting'));
    socket.once('error', (err) => done(err.message));
    socket.once('connect', () => {
      if (greeting === null) done(true);
    });
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        const line = buf.slice(0, nl);
        done(greeting?.test(line) ? true : `unexpected greeting ${JSON.stringify(line)}`);
      }
    });
    socket.once('end', () => done('closed before greeting'));
  });
}

// ---- cleanup of leftovers when the test process ends --------------------

const livePgids = new Set<number>();
const liveDirs = new Set<string>();
let hooksInstalled = false;

/** Remove `dir` when the process exits, unless untrackDir() was called first. */
export function trackDir(dir: string): void {
  installHooks();
  liveDirs.add(dir);
}

export function untrackDir(dir: string): void {
  liveDirs.delete(dir);
}

function cleanupNow(): void {
  for (const pgid of livePgids) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  livePgids.clear();
  for (const dir of liveDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort at exit
    }
  }
  liveDirs.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', cleanupNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanupNow();
      // Keep the default behaviour (terminate) unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.once(signal, onSignal);
  }
}
installHooks();
