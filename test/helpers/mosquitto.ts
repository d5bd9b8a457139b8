/**
 * Start a real Mosquitto 2.0 (Debian 12) on free loopback ports.
 *
 *   const broker = await startMosquitto({ users: { lpmqtt: 'pw' }, allowAnonymous: false });
 *   t.after(() => broker.stop());
 *   const client = await mqtt.connectAsync(broker.url, { username: 'lpmqtt', password: 'pw' });
 *
 * Facts of 2.0.11 this works around:
 * - Started as root, mosquitto drops to user `mosquitto` before it reads
 *   password_file/acl_file, so the instance dir is chowned to mosquitto.
 * - A config with only a websockets listener fails ("Unable to start any
 *   listening sockets"), so the plain listener is always there.
 * - The websockets listener binds every interface whatever address is given;
 *   connect only to 127.0.0.1 anyway.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePorts } from './ports.js';
import {
  defaultBaseDir, killGroup, ServerStartError, spawnServer, stopGroup, trackDir, untrackDir, waitForGreeting,
  type ServerProcess,
} from './proc.js';

const execFileAsync = promisify(execFile);

/** What a caller-supplied config (`configText`) may refer to. */
export interface MosquittoConfigContext {
  port: number;
  tlsPort: number;
  wsPort: number;
  /** The instance dir (exists, owned by the broker's user). */
  dir: string;
  /** Written when `users` is given. */
  passwordFile: string | undefined;
  /** Written when `acl` is given. */
  aclFile: string | undefined;
  /** Copies of the `tls` files inside `dir`, when `tls` is given. */
  tls: { caFile: string; certFile: string; keyFile: string } | undefined;
}

export interface MosquittoOptions {
  /** username → password, written with mosquitto_passwd. */
  users?: Record<string, string>;
  /** Text of the acl_file (mosquitto ACL syntax). */
  acl?: string;
  /** Default true. */
  allowAnonymous?: boolean;
  /** Adds a TLS listener (tlsPort). Files are copied into the instance dir. */
  tls?: { caFile: string; certFile: string; keyFile: string };
  /** Adds a websockets listener (wsPort). */
  websockets?: boolean;
  /** Broker-wide max_packet_size. */
  maxPacketSize?: number;
  /**
   * Use this whole config instead of the generated one (e.g. a shipped deploy
   * file with its ports substituted). It must listen on ctx.port (and on
   * ctx.tlsPort / ctx.wsPort when `tls` / `websockets` are set): those are
   * what startup waits for.
   */
  configText?: (ctx: MosquittoConfigContext) => string;
  /** Where the instance dir is created (default: see defaultBaseDir()). */
  baseDir?: string;
}

export interface Mosquitto {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** mqtt://127.0.0.1:port */
  readonly url: string;
  readonly tlsPort: number | undefined;
  /** mqtts://127.0.0.1:tlsPort (connect with servername 'localhost' and the test CA). */
  readonly tlsUrl: string | undefined;
  readonly wsPort: number | undefined;
  /** ws://127.0.0.1:wsPort */
  readonly wsUrl: string | undefined;
  /** The instance dir of the current run (recreated by start()). */
  readonly dir: string | undefined;
  readonly pid: number | undefined;
  /** Start again on the same ports (after stop() or kill()). */
  start(): Promise<void>;
  /** Graceful stop (SIGTERM) and removal of the instance dir. Idempotent. */
  stop(): Promise<void>;
  /** stop() + start(). No persistence: retained messages and sessions are gone. */
  restart(): Promise<void>;
  /** SIGKILL. */
  kill(): Promise<void>;
  /** Broker log (stderr) of the current run. */
  output(): string;
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const [port, tlsPort, wsPort] = (await freePorts(3)) as [number, number, number];
  const broker = new MosquittoInstance(opts, port, tlsPort, wsPort);
  await broker.start();
  return broker;
}

async function mosquittoIds(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const [{ stdout: uid }, { stdout: gid }] = await Promise.all([
      execFileAsync('id', ['-u', 'mosquitto']),
      execFileAsync('id', ['-g', 'mosquitto']),
    ]);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  } catch {
    return undefined; // no such user: mosquitto stays root
  }
}

class MosquittoInstance implements Mosquitto {
  readonly host = '127.0.0.1' as const;
  readonly url: string;
  readonly tlsPort: number | undefined;
  readonly tlsUrl: string | undefined;
  readonly wsPort: number | undefined;
  readonly wsUrl: string | undefined;
  private currentDir: string | undefined;
  private proc: ServerProcess | undefined;

  constructor(
    private readonly opts: MosquittoOptions,
    readonly port: number,
    private readonly allocatedTlsPort: number,
    private readonly allocatedWsPort: number,
  ) {
    this.url = `mqtt://127.0.0.1:${port}`;
    this.tlsPort = opts.tls ? allocatedTlsPort : undefined;
    this.tlsUrl = opts.tls ? `mqtts://127.0.0.1:${allocatedTlsPort}` : undefined;
    this.wsPort = opts.websockets ? allocatedWsPort : undefined;
    this.wsUrl = opts.websockets ? `ws://127.0.0.1:${allocatedWsPort}` : undefined;
  }

  get dir(): string | undefined {
    return this.currentDir;
  }

  get pid(): number | undefined {
    return this.proc?.running() ? this.proc.pgid : undefined;
  }

  output(): string {
    return this.proc?.output() ?? '';
  }

  private async prepare(): Promise<string> {
    const dir = await mkdtemp(join(this.opts.baseDir ?? defaultBaseDir(), 'lpmqtt-mosquitto-'));
    trackDir(dir);
    const o = this.opts;
    let passwordFile: string | undefined;
    if (o.users && Object.keys(o.users).length > 0) {
      passwordFile = join(dir, 'passwd');
      await writeFile(passwordFile, '');
      for (const [user, pass] of Object.entries(o.users)) {
        try {
          await execFileAsync('mosquitto_passwd', ['-b', passwordFile, user, pass]);
        } catch (err) {
          throw new ServerStartError(`mosquitto_passwd for ${user} failed`, { cause: err });
        }
      }
    }
    let aclFile: string | undefined;
    if (o.acl !== undefined) {
      aclFile = join(dir, 'acl');
      await writeFile(aclFile, o.acl.endsWith('\n') ? o.acl : o.acl + '\n');
    }
    let tls: MosquittoConfigContext['tls'];
    if (o.tls) {
      tls = { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') };
      await copyFile(o.tls.caFile, tls.caFile);
      await copyFile(o.tls.certFile, tls.certFile);
      await copyFile(o.tls.keyFile, tls.keyFile);
    }
    const ctx: MosquittoConfigContext = {
      port: this.port,
      tlsPort: this.allocatedTlsPort,
      wsPort: this.allocatedWsPort,
      dir,
      passwordFile,
      aclFile,
      tls,
    };
    const config = o.configText ? o.configText(ctx) : this.generatedConfig(ctx);
    await writeFile(join(dir, 'mosquitto.conf'), config);

    // mosquitto_passwd/2.0 warn about or refuse group/world-readable secrets.
    for (const name of await readdir(dir)) await chmod(join(dir, name), 0o600);
    const ids = await mosquittoIds();
    if (ids) {
      await chown(dir, ids.uid, ids.gid);
      for (const name of await readdir(dir)) await chown(join(dir, name), ids.uid, ids.gid);
    }
    return dir;
  }

  private generatedConfig(ctx: MosquittoConfigContext): string {
    const o = this.opts;
    const lines = [
      'per_listener_settings false',
      `allow_anonymous ${o.allowAnonymous === false ? 'false' : 'true'}`,
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      'connection_messages true',
    ];
    if (ctx.passwordFile) lines.push(`password_file ${ctx.passwordFile}`);
    if (ctx.aclFile) lines.push(`acl_file ${ctx.aclFile}`);
    if (o.maxPacketSize !== undefined) lines.push(`max_packet_size ${o.maxPacketSize}`);
    lines.push(`listener ${ctx.port} 127.0.0.1`);
    if (ctx.tls) {
      lines.push(
        `listener ${ctx.tlsPort} 127.0.0.1`,
        `cafile ${ctx.tls.caFile}`,
        `certfile ${ctx.tls.certFile}`,
        `keyfile ${ctx.tls.keyFile}`,
      );
    }
    if (o.websockets) lines.push(`listener ${ctx.wsPort} 127.0.0.1`, 'protocol websockets');
    return lines.join('\n') + '\n';
  }

  async start(): Promise<void> {
    if (this.proc?.running()) return;
    this.currentDir ??= await this.prepare();
    const proc = spawnServer('mosquitto', ['-c', join(this.currentDir, 'mosquitto.conf')], { cwd: this.currentDir });
    this.proc = proc;
    try {
      await waitForGreeting(this.port, null, proc, 'mosquitto');
      if (this.tlsPort !== undefined) await waitForGreeting(this.tlsPort, null, proc, 'mosquitto tls');
      if (this.wsPort !== undefined) await waitForGreeting(this.wsPort, null, proc, 'mosquitto websockets');
    } catch (err) {
      await killGroup(proc);
      await this.removeDir();
      throw err;
    }
  }

  async stop(): Promise<void> {
    if (this.proc) await stopGroup(this.proc, 'SIGTERM', 5000);
    await this.removeDir();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async kill(): Promise<void> {
    if (this.proc) await killGroup(this.proc);
  }

  private async removeDir(): Promise<void> {
    if (this.currentDir === undefined) return;
    const dir = this.currentDir;
    this.currentDir = undefined;
    await rm(dir, { recursive: true, force: true });
    untrackDir(dir);
  }
}

