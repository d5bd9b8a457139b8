/**
 * Start a real, unprivileged Cyrus IMAP 3.6 (Debian 12 packages) on free
 * loopback ports for tests and benchmarks.
 *
 *   const cyrus = await startCyrus();
 *   t.after(() => cyrus.stop());
 *   await cyrus.deliver(rawMail);                 // LMTP, like the MX
 *   const msgs = await cyrus.listMessages('INBOX'); // as user lpmqtt
 *
 * Layout: everything (config, spool, sasldb, sockets) lives in one temp dir
 * owned by cyrus:mail; master runs in the foreground (-D) in its own process
 * group so kill() can take it and every child down at once. Cyrus logs only
 * to syslog, which does not exist here: errors carry master's stdout/stderr,
 * which is all there is.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import { LmtpClient } from './lmtp.js';
import { freePorts } from './ports.js';
import {
  defaultBaseDir, killGroup, ServerStartError, spawnServer, squeeze, stopGroup, trackDir, untrackDir, waitForGreeting,
  type ServerProcess,
} from './proc.js';

const execFileAsync = promisify(execFile);

const CYRUS_BIN = '/usr/lib/cyrus/bin';
const SASLPASSWD = '/usr/sbin/saslpasswd2';

export interface CyrusOptions {
  /** Serve IMAPS on its own port (imapsPort) and STARTTLS on imapPort. Files are copied into the instance dir. */
  tls?: { certFile: string; keyFile: string };
  /** Run idled so IDLE gets push notifications (default true). Without it Cyrus polls every imapidlepoll s. */
  idled?: boolean;
  /** Password of user lpmqtt (default 'lpmqtt-secret'). */
  password?: string;
  /** Extra users (name → password); each gets its INBOX (user.NAME). */
  users?: Record<string, string>;
  /** Extra or overriding imapd.conf settings, e.g. { imapidlepoll: 2 }. */
  imapdConf?: Record<string, string | number | boolean>;
  /**
   * Where the instance directory is created. Default: $LPMQTT_TEST_TMPDIR, else /dev/shm
   * when writable (Cyrus fsyncs every delivery; on tmpfs that costs nothing), else os.tmpdir().
   */
  baseDir?: string;
}

export interface ListedMessage {
  uid: number;
  flags: Set<string>;
  size: number;
}

export interface ImapLogin {
  /** Log in as the admin (cyrus) instead of lpmqtt. */
  admin?: boolean;
  /** Log in as this user (password from `users`). */
  user?: string;
  /** Connect to the IMAPS port (needs tls); `ca` is the CA PEM to trust. */
  tls?: { ca: Buffer | string; servername?: string };
}

export interface Cyrus {
  readonly host: '127.0.0.1';
  readonly imapPort: number;
  /** Only when started with `tls`. */
  readonly imapsPort: number | undefined;
  readonly lmtpPort: number;
  readonly user: 'lpmqtt';
  readonly password: string;
  readonly adminUser: 'cyrus';
  readonly adminPassword: string;
  /** The instance directory (config, spool, sasldb). */
  readonly dir: string;
  /** Pid of the running master, or undefined while down. */
  readonly pid: number | undefined;

  /** Deliver one mail over LMTP (to lpmqtt unless `rcpt`); resolves after LMTP's 250 for the data. */
  deliver(raw: Buffer | string, opts?: { rcpt?: string; from?: string }): Promise<void>;
  /** Deliver many mails over one LMTP connection (RSET between mails). */
  deliverMany(raws: (Buffer | string)[], opts?: { rcpt?: string; from?: string }): Promise<void>;

  /** Graceful stop (SIGTERM), then remove the instance directory. Idempotent. */
  stop(): Promise<void>;
  /** Graceful stop that keeps the data; start() brings it back on the same ports. */
  shutdown(): Promise<void>;
  /** SIGKILL master and all children; data stays for start()/restart(). */
  kill(): Promise<void>;
  /** Start again on the same ports and data (after shutdown() or kill()). */
  start(): Promise<void>;
  /** shutdown() + start(): same ports, same data. */
  restart(): Promise<void>;

  /** ImapFlow options for a login (default: lpmqtt on the plain port). */
  imapOptions(login?: ImapLogin): ImapFlowOptions;
  /** A connected, logged-in ImapFlow; the caller must logout(). */
  imap(login?: ImapLogin): Promise<ImapFlow>;
  /** Run fn with a logged-in ImapFlow; logs out afterwards. */
  withImap<T>(fn: (client: ImapFlow) => Promise<T>, login?: ImapLogin): Promise<T>;
  /** Run one raw IMAP command as the admin (e.g. `CREATE user.x`); returns the untagged lines; throws on NO/BAD. */
  adminCommand(command: string): Promise<string[]>;
  /** Messages of lpmqtt's `folder` (default INBOX), in UID order. */
  listMessages(folder?: string): Promise<ListedMessage[]>;
  /** Create a folder of lpmqtt ('failed' and 'INBOX.failed' both mean INBOX.failed). */
  createFolder(name: string): Promise<void>;
  deleteFolder(name: string): Promise<void>;
  /** Everything master printed so far (Cyrus itself logs to syslog only). */
  output(): string;
}

interface CyrusIds {
  uid: number | undefined;
  gid: number | undefined;
  owner: string;
}

async function cyrusIds(): Promise<CyrusIds> {
  if (process.getuid?.() !== 0) {
    // Not root: run master as ourselves and tell Cyrus that we are "the cyrus user".
    return { uid: undefined, gid: undefined, owner: userInfo().username };
  }
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([
    execFileAsync('id', ['-u', 'cyrus']),
    execFileAsync('id', ['-g', 'cyrus']),
  ]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()), owner: 'cyrus' };
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid);
  const entries = await readdir(path, { withFileTypes: true });
  await Promise.all(entries.map(async (e) => {
    const p = join(path, e.name);
    if (e.isDirectory()) await chownTree(p, uid, gid);
    else await chown(p, uid, gid);
  }));
}

async function saslpasswd(sasldb: string, user: string, password: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = execFile(SASLPASSWD, ['-p', '-f', sasldb, '-c', user], (err, _stdout, stderr) => {
      if (err) reject(new ServerStartError(`saslpasswd2 for ${user} failed: ${stderr || err.message}`, { cause: err }));
      else resolve();
    });
    child.stdin?.end(password);
  });
}

/** Start a fresh Cyrus with user lpmqtt (INBOX = user.lpmqtt) and admin cyrus. */
export async function startCyrus(opts: CyrusOptions = {}): Promise<Cyrus> {
  const ids = await cyrusIds();
  const [imapPort, lmtpPort, imapsPort] = (await freePorts(3)) as [number, number, number];
  const dir = await mkdtemp(join(opts.baseDir ?? defaultBaseDir(), 'lpmqtt-cyrus-'));
  trackDir(dir);
  const inst = new CyrusInstance(dir, ids, opts, imapPort, lmtpPort, opts.tls ? imapsPort : undefined);
  try {
    await inst.init();
    await inst.start();
    await inst.createUsers();
  } catch (err) {
    await inst.stop();
    throw err;
  }
  return inst;
}

class CyrusInstance implements Cyrus {
  readonly host = '127.0.0.1' as const;
  readonly user = 'lpmqtt' as const;
  readonly adminUser = 'cyrus' as const;
  readonly password: string;
  readonly adminPassword = 'cyrus-admin-secret';
  private proc: ServerProcess | undefined;
  private stopped = false;

  constructor(
    readonly dir: string,
    private readonly ids: CyrusIds,
    private readonly opts: CyrusOptions,
    readonly imapPort: number,
    readonly lmtpPort: number,
    readonly imapsPort: number | undefined,
  ) {
    this.password = opts.password ?? 'lpmqtt-secret';
  }

  get pid(): number | undefined {
    return this.proc?.running() ? this.proc.pgid : undefined;
  }

  private get conf(): string {
    return join(this.dir, 'imapd.conf');
  }

  async init(): Promise<void> {
    const d = this.dir;
    for (const sub of ['conf', 'conf/socket', 'conf/sieve', 'conf/db', 'spool', 'proc', 'lock', 'tls']) {
      await mkdir(join(d, sub), { recursive: true });
    }
    const settings: Record<string, string | number | boolean> = {
      configdirectory: join(d, 'conf'),
      defaultpartition: 'default',
      'partition-default': join(d, 'spool'),
      proc_path: join(d, 'proc'),
      mboxname_lockpath: join(d, 'lock'),
      // idled listens here; the directory must exist or IDLE falls back to polling.
      idlesocket: join(d, 'conf/socket/idle'),
      lmtpsocket: join(d, 'conf/socket/lmtp'),
      notifysocket: join(d, 'conf/socket/notify'),
      sievedir: join(d, 'conf/sieve'),
      // Only with these two is user.lpmqtt the INBOX of lpmqtt and INBOX.failed its subfolder.
      altnamespace: 'no',
      unixhierarchysep: 'no',
      sasl_pwcheck_method: 'auxprop',
      sasl_auxprop_plugin: 'sasldb',
      sasl_sasldb_path: join(d, 'sasldb2'),
      sasl_mech_list: 'PLAIN LOGIN',
      allowplaintext: 'yes',
      admins: 'cyrus',
      // Tests deliver the same Message-Id more than once; LMTP would drop the repeats.
      duplicatesuppression: 0,
      lmtp_downcase_rcpt: 'yes',
      // Keep delivered bytes as they are (Cyrus' default rewrites 8-bit header bytes to 'X').
      munge8bit: 'no',
      delete_mode: 'immediate',
      expunge_mode: 'immediate',
      hashimapspool: 'no',
      ...(this.ids.uid === undefined ? { cyrus_user: this.ids.owner } : {}),
    };
    if (this.opts.tls) {
      const cert = join(d, 'tls/server.crt');
      const key = join(d, 'tls/server.key');
      await copyFile(this.opts.tls.certFile, cert);
      await copyFile(this.opts.tls.keyFile, key);
      await chmod(key, 0o600);
      settings.tls_server_cert = cert;
      settings.tls_server_key = key;
    }
    Object.assign(settings, this.opts.imapdConf ?? {});
    const imapdConf = Object.entries(settings)
      .map(([k, v]) => `${k}: ${typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v)}\n`)
      .join('');
    await writeFile(this.conf, imapdConf);

    const c = `-C ${this.conf}`;
    const services = [
      `  imap cmd="imapd ${c}" listen="127.0.0.1:${this.imapPort}" prefork=1`,
      `  lmtp cmd="lmtpd -a ${c}" listen="127.0.0.1:${this.lmtpPort}" prefork=1`,
      ...(this.imapsPort !== undefined ? [`  imaps cmd="imapd -s ${c}" listen="127.0.0.1:${this.imapsPort}" prefork=0`] : []),
    ];
    const daemons = this.opts.idled === false ? [] : [`  idled cmd="idled ${c}"`];
    const cyrusConf = [
      'START {',
      `  recover cmd="ctl_cyrusdb -r ${c}"`,
      '}',
      'SERVICES {',
      ...services,
      '}',
      'EVENTS {',
      '}',
      'DAEMON {',
      ...daemons,
      '}',
      '',
    ].join('\n');
    await writeFile(join(d, 'cyrus.conf'), cyrusConf);

    const sasldb = join(d, 'sasldb2');
    await saslpasswd(sasldb, this.adminUser, this.adminPassword);
    await saslpasswd(sasldb, this.user, this.password);
    for (const [name, pw] of Object.entries(this.opts.users ?? {})) await saslpasswd(sasldb, name, pw);

    if (this.ids.uid !== undefined && this.ids.gid !== undefined) await chownTree(d, this.ids.uid, this.ids.gid);
  }

  async createUsers(): Promise<void> {
    for (const name of [this.user, ...Object.keys(this.opts.users ?? {})]) {
      await this.adminCommand(`CREATE user.${name}`);
    }
  }

  async start(): Promise<void> {
    if (this.stopped) throw new Error(`Cyrus in ${this.dir} was stopped (data removed); start a new one`);
    if (this.proc?.running()) return;
    const proc = spawnServer(
      join(CYRUS_BIN, 'master'),
      ['-C', this.conf, '-M', join(this.dir, 'cyrus.conf'), '-p', join(this.dir, 'master.pid'), '-D'],
      {
        cwd: this.dir,
        ...(this.ids.uid !== undefined ? { uid: this.ids.uid } : {}),
        ...(this.ids.gid !== undefined ? { gid: this.ids.gid } : {}),
      },
    );
    this.proc = proc;
    try {
      // Cyrus writes little to stderr (its log is syslog), but "fatal error" there means a child died.
      await waitForGreeting(this.imapPort, /^\* OK/, proc, `Cyrus imap (${this.dir})`, 15000, /fatal error/);
      await waitForGreeting(this.lmtpPort, /^220 /, proc, `Cyrus lmtp (${this.dir})`, 15000, /fatal error/);
      if (this.imapsPort !== undefined) await waitForGreeting(this.imapsPort, null, proc, `Cyrus imaps (${this.dir})`);
      if (this.opts.idled !== false) await this.waitForIdled(proc);
    } catch (err) {
      await killGroup(proc);
      throw err;
    }
  }

  /** idled creates its socket when ready; IDLE clients that come earlier would poll. */
  private async waitForIdled(proc: ServerProcess): Promise<void> {
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      const names = await readdir(join(this.dir, 'conf/socket'));
      if (names.includes('idle')) return;
      if (!proc.running()) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new ServerStartError(`Cyrus idled did not create ${join(this.dir, 'conf/socket/idle')}; output:\n${squeeze(proc.output())}`);
  }

  async shutdown(): Promise<void> {
    if (this.proc) await stopGroup(this.proc, 'SIGTERM', 5000);
  }

  async kill(): Promise<void> {
    if (this.proc) await killGroup(this.proc);
  }

  async restart(): Promise<void> {
    await this.shutdown();
    await this.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    await this.shutdown();
    this.stopped = true;
    await rm(this.dir, { recursive: true, force: true });
    untrackDir(this.dir);
  }

  output(): string {
    return this.proc?.output() ?? '';
  }

  async deliver(raw: Buffer | string, opts: { rcpt?: string; from?: string } = {}): Promise<void> {
    await this.deliverMany([raw], opts);
  }

  async deliverMany(raws: (Buffer | string)[], opts: { rcpt?: string; from?: string } = {}): Promise<void> {
    const client = await LmtpClient.connect(this.host, this.lmtpPort);
    try {
      const rcpt = opts.rcpt ?? this.user;
      const from = opts.from ?? 'noreply@launchpad.net';
      for (let i = 0; i < raws.length; i++) {
        if (i > 0) await client.rset();
        await client.send(raws[i] as Buffer | string, from, [rcpt]);
      }
    } finally {
      await client.quit();
    }
  }

  imapOptions(login: ImapLogin = {}): ImapFlowOptions {
    const [user, pass] = login.admin
      ? [this.adminUser, this.adminPassword]
      : login.user !== undefined
        ? [login.user, this.opts.users?.[login.user] ?? (login.user === this.user ? this.password : '')]
        : [this.user, this.password];
    const base: ImapFlowOptions = { host: this.host, port: this.imapPort, secure: false, auth: { user, pass }, logger: false };
    if (login.tls) {
      if (this.imapsPort === undefined) throw new Error('imapOptions: Cyrus was started without tls');
      return { ...base, port: this.imapsPort, secure: true, tls: { ca: login.tls.ca, servername: login.tls.servername ?? 'localhost' } };
    }
    // Plain port on loopback: no STARTTLS unless the test asks for it.
    return { ...base, doSTARTTLS: false };
  }

  async imap(login: ImapLogin = {}): Promise<ImapFlow> {
    const client = new ImapFlow(this.imapOptions(login));
    // An 'error' event without a listener would crash the test process.
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  async withImap<T>(fn: (client: ImapFlow) => Promise<T>, login: ImapLogin = {}): Promise<T> {
    const client = await this.imap(login);
    try {
      return await fn(client);
    } finally {
      await client.logout().catch(() => client.close());
    }
  }

  async listMessages(folder = 'INBOX'): Promise<ListedMessage[]> {
    return this.withImap(async (client) => {
      const lock = await client.getMailboxLock(folder, { readOnly: true });
      try {
        const mailbox = client.mailbox;
        if (mailbox === false || mailbox.exists === 0) return [];
        const msgs = await client.fetchAll('1:*', { uid: true, flags: true, size: true });
        return msgs
          .map((m) => ({ uid: m.uid, flags: new Set(m.flags ?? []), size: m.size ?? 0 }))
          .sort((a, b) => a.uid - b.uid);
      } finally {
        lock.release();
      }
    });
  }

  async createFolder(name: string): Promise<void> {
    await this.withImap(async (client) => {
      await client.mailboxCreate(name);
    });
  }

  async deleteFolder(name: string): Promise<void> {
    await this.withImap(async (client) => {
      await client.mailboxDelete(name);
    });
  }

  async adminCommand(command: string): Promise<string[]> {
    return rawImap(this.host, this.imapPort, this.adminUser, this.adminPassword, command);
  }
}

/** LOGIN, one command, LOGOUT over a raw socket (ImapFlow would prefix admin paths with INBOX.). */
async function rawImap(host: string, port: number, user: string, pass: string, command: string): Promise<string[]> {
  const socket: Socket = connect({ host, port });
  let buf = '';
  let waiter: (() => void) | null = null;
  let failure: Error | null = null;
  socket.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    waiter?.();
  });
  socket.on('error', (err) => {
    failure = err;
    waiter?.();
  });
  socket.on('close', () => {
    failure ??= new Error('IMAP connection closed');
    waiter?.();
  });
  const lines: string[] = [];
  const readLine = async (): Promise<string> => {
    for (;;) {
      const nl = buf.indexOf('\r\n');
      if (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        return line;
      }
      if (failure) throw failure;
      await new Promise<void>((r) => (waiter = r));
      waiter = null;
    }
  };
  const quote = (s: string): string => `"${s.replace(/["\\]/g, '\\$&')}"`;
  const run = async (tag: string, cmd: string): Promise<string[]> => {
    socket.write(`${tag} ${cmd}\r\n`);
    const untagged: string[] = [];
    for (;;) {
      const line = await readLine();
      if (line.startsWith(`${tag} `)) {
        if (!line.startsWith(`${tag} OK`)) throw new Error(`IMAP "${cmd.startsWith('LOGIN') ? 'LOGIN' : cmd}" failed: ${line}`);
        return untagged;
      }
      untagged.push(line);
    }
  };
  try {
    const greeting = await readLine();
    if (!greeting.startsWith('* OK')) throw new Error(`IMAP greeting: ${greeting}`);
    await run('a1', `LOGIN ${quote(user)} ${quote(pass)}`);
    lines.push(...(await run('a2', command)));
    await run('a3', 'LOGOUT').catch(() => undefined);
    return lines;
  } finally {
    socket.destroy();
  }
}
