/**
 * One IMAP connection with the watched folder selected: the handful of
 * commands the bridge needs, each one round trip for a whole set of UIDs.
 * imapflow cannot reconnect, so a session is used until it closes and then
 * thrown away; the watcher opens the next one.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { ImapError, ImapFatalError, imapReason } from './errors.js';
import { fromUidSet, toUidSet } from './uidset.js';

/** Keyword set on mail that could not be set aside in a folder; such mail is never fetched again. */
export const FAILED_FLAG = '$LpmqttFailed';

export interface FetchedMail {
  uid: number;
  source: Buffer;
  /** Set when the mail is larger than MAX_MAIL_BYTES: its real size; `source` holds only the first MAX_MAIL_BYTES. */
  cutFrom?: number;
}

export interface SessionEvents {
  /** The server reported the message count (new mail, or an EXPUNGE). */
  exists: [count: number];
  /** The connection is gone, whatever the reason. */
  close: [];
}

type ImapConfig = Config['imap'];

/**
 * Up to this many mails are fetched in pieces of PIECE_BYTES. A response that
 * takes a server two writes (Cyrus writes 4 KB at a time, without
 * TCP_NODELAY) has its last small segment held back by Nagle until our
 * delayed ACK, 40 ms on Linux: fine once per bulk FETCH, but that is most of
 * the latency of one live mail. Pieces that fit one write cost a round trip
 * each (well under a millisecond on a LAN) instead.
 */
const SMALL_FETCH = 3;
/** Partial size such that the whole response (FETCH line, literal, tagged OK) stays under 4096 bytes. */
const PIECE_BYTES = 3_600;
/**
 * The most of one mail ever held in memory. Launchpad's mail is a few KB (the
 * real ones average 5.9 KB); the parser needs the header and the first text
 * part, and cuts the body to parse.max_body_bytes anyway. A 50 MB attachment
 * is fetched as its first 2 MiB (BODY.PEEK[]<0.N>), so a batch of hostile mail
 * cannot take the daemon's memory with it. Such mail cannot pass DKIM (the
 * body hash covers the whole body) and is set aside when verification is on.
 */
export const MAX_MAIL_BYTES = 2 * 1024 * 1024;

/** imapflow's warning when a plain connection could not be upgraded (it may be a downgrade attack). */
const NO_STARTTLS = 'Server does not support STARTTLS';

/**
 * imapflow logs each protocol line at debug and connection news at info: keep
 * it one notch quieter than ours. To a server on this machine (the usual Cyrus
 * beside the MX) nobody sits in between to strip STARTTLS, so imapflow's
 * downgrade warning, on every connect, goes to debug there; elsewhere it stays
 * a warning.
 */
function imapflowLogger(log: Logger, config: ImapConfig): object {
  const level = log.levelVal <= 10 ? 'debug' : log.levelVal <= 20 ? 'info' : 'warn';
  const child = log.child({ component: 'imapflow' }, { level });
  if (config.tls || !isLoopbackHost(config.host)) return child;
  const downgradeNote = (entry: unknown): boolean => {
    const msg = (entry as { msg?: unknown } | null)?.msg;
    return typeof msg === 'string' && msg.startsWith(NO_STARTTLS);
  };
  return {
    // Without it imapflow serialises every FETCH response for a trace line that pino then drops.
    isLevelEnabled: child.isLevelEnabled.bind(child),
    trace: child.trace.bind(child),
    debug: child.debug.bind(child),
    info: child.info.bind(child),
    warn: (entry: object, ...rest: unknown[]) => (downgradeNote(entry) ? child.debug(entry, ...(rest as [])) : child.warn(entry, ...(rest as []))),
    error: child.error.bind(child),
    fatal: child.fatal.bind(child),
  };
}

/** True for a host name or address that stays on this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export function clientOptions(config: ImapConfig, log: Logger): ImapFlowOptions {
  const tls: NonNullable<ImapFlowOptions['tls']> = { rejectUnauthorized: true, minVersion: 'TLSv1.2' };
  if (config.ca !== undefined) tls.ca = readFileSync(config.ca);
  const opts: ImapFlowOptions = {
    host: config.host,
    port: config.port ?? (config.tls ? 993 : 143),
    secure: config.tls,
    auth: { user: config.username, pass: config.password ?? '' },
    logger: imapflowLogger(log, config) as NonNullable<ImapFlowOptions['logger']>,
    // IDLE is started and broken by the watcher, not on a timer of imapflow's.
    disableAutoIdle: true,
    maxIdleTime: config.idle_timeout * 1000,
    // BINARY.PEEK[] would hand back a decoded body under headers that still name its transfer encoding.
    disableBinary: true,
    // COMPRESS=DEFLATE costs more CPU on both ends than it saves on a LAN or loopback, where the server usually is.
    disableCompression: true,
    // A command that sees no byte for this long has a dead peer behind it (imapflow probes idle sockets with NOOP first).
    socketTimeout: Math.max(2 * config.watchdog_timeout * 1000, 10_000),
    connectionTimeout: 30_000,
    greetingTimeout: 16_000,
    tls,
    clientInfo: { name: 'lpmqtt' },
  };
  if (config.servername !== undefined) opts.servername = config.servername;
  return opts;
}

/** True for errors that another attempt with the same configuration will meet again. */
function isFatal(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { authenticationFailed?: boolean; code?: unknown };
  if (e.authenticationFailed === true) return true;
  return typeof e.code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(e.code);
}

export class ImapSession extends EventEmitter<SessionEvents> {
  readonly #client: ImapFlow;
  readonly #config: ImapConfig;
  readonly #log: Logger;
  #closed = false;
  #uidNextAtOpen = 0;
  readonly closed: Promise<void>;

  private constructor(client: ImapFlow, config: ImapConfig, log: Logger) {
    super();
    this.#client = client;
    this.#config = config;
    this.#log = log;
    this.closed = new Promise<void>((resolve) => {
      client.on('close', () => {
        this.#closed = true;
        resolve();
        this.emit('close');
      });
    });
    client.on('error', (err: Error) => {
      this.#log.warn({ err: { message: err.message, code: (err as { code?: unknown }).code } }, 'IMAP connection error');
    });
    client.on('exists', (data: { count: number }) => this.emit('exists', data.count));
  }

  /**
   * Connects, logs in and selects the folder. Rejects with ImapFatalError when
   * the credentials, the certificate or the folder are wrong, else ImapError.
   */
  static async open(config: ImapConfig, log: Logger, opts: { readOnly?: boolean } = {}): Promise<ImapSession> {
    const client = new ImapFlow(clientOptions(config, log));
    // Until the session object exists, an 'error' must still have a listener.
    const early = (): void => {};
    client.on('error', early);
    const where = `${config.host}:${config.port ?? (config.tls ? 993 : 143)}`;
    try {
      await client.connect();
    } catch (err) {
      client.close();
      const msg = `IMAP ${where}: cannot log in as ${config.username}: ${imapReason(err)}`;
      if (isFatal(err)) throw new ImapFatalError(msg, { cause: err, refused: 'login' });
      throw new ImapError(msg, { cause: err });
    }
    // Commands are small writes that must not wait for the ACK of the previous one (Nagle).
    (client as unknown as { socket?: { setNoDelay?: (on: boolean) => void } }).socket?.setNoDelay?.(true);
    const session = new ImapSession(client, config, log);
    client.off('error', early);
    try {
      const mailbox = await client.mailboxOpen(config.folder, { readOnly: opts.readOnly === true });
      session.#uidNextAtOpen = mailbox.uidNext;
    } catch (err) {
      client.close();
      const refused = (err as { responseStatus?: string }).responseStatus === 'NO';
      const msg = `IMAP ${where}: cannot open folder ${config.folder} (imap.folder): ${imapReason(err)}`;
      if (refused) throw new ImapFatalError(msg, { cause: err, refused: 'folder' });
      throw new ImapError(msg, { cause: err });
    }
    return session;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  get hasIdle(): boolean {
    return this.#client.capabilities.has('IDLE');
  }

  get uidValidity(): bigint | undefined {
    const mb = this.#client.mailbox;
    return mb ? mb.uidValidity : undefined;
  }

  /** UIDNEXT as reported when the folder was selected: every mail that arrived later has at least this UID. */
  get uidNextAtOpen(): number {
    return this.#uidNextAtOpen;
  }

  /** Messages in the folder as last reported by the server. */
  get exists(): number {
    const mb = this.#client.mailbox;
    return mb ? mb.exists : 0;
  }

  /** UIDs of mail not yet handled: unseen, not deleted, not flagged failed; only above `afterUid` if given. */
  async searchPending(afterUid = 0): Promise<number[]> {
    const query: Record<string, unknown> = { seen: false, deleted: false, unKeyword: FAILED_FLAG };
    if (afterUid > 0) query['uid'] = `${afterUid + 1}:*`;
    // ESEARCH (RFC 4731) answers with a sequence set ("1:3000") instead of every
    // UID: one small segment, where a long SEARCH line ends with its last
    // segment held back by the server's Nagle until our delayed ACK (40 ms).
    // imapflow falls back to plain SEARCH for a server without ESEARCH.
    const found = await this.#client.search(query, { uid: true, returnOptions: ['ALL'] });
    let uids: number[];
    if (Array.isArray(found)) uids = found;
    else if (found) uids = this.#expand(found.all ?? '');
    else throw new ImapError(`IMAP: UID SEARCH in ${this.#config.folder} was refused`);
    // `N:*` matches the highest UID even when it is below N (RFC 9051 §6.4.8).
    return uids.filter((uid) => uid > afterUid).sort((a, b) => a - b);
  }

  /** An ESEARCH ALL set as UIDs; it cannot name many more mails than the folder holds (the slack is for new arrivals). */
  #expand(set: string): number[] {
    try {
      return fromUidSet(set, this.exists + 100_000);
    } catch (err) {
      throw new ImapError(`IMAP: UID SEARCH in ${this.#config.folder} answered a bad UID set: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * The raw source of each mail (BODY.PEEK[], so nothing gets \Seen), in UID
   * order: one UID FETCH for the whole set, or for a trickle of live mail,
   * pieces small enough for one server write each (see SMALL_FETCH).
   */
  async fetch(uids: readonly number[]): Promise<FetchedMail[]> {
    const out: FetchedMail[] = [];
    await this.fetchEach(uids, (mail) => out.push(mail));
    return out.sort((a, b) => a.uid - b.uid);
  }

  /**
   * fetch(), handing each mail to `onMail` as it arrives: the caller works on
   * the first mails while the server still sends the rest, and holds none of
   * them longer than it needs. `onMail` must not run an IMAP command on this
   * session (imapflow would wait for the FETCH to end, and the FETCH for it).
   */
  async fetchEach(uids: readonly number[], onMail: (mail: FetchedMail) => void): Promise<void> {
    if (uids.length === 0) return;
    if (uids.length <= SMALL_FETCH) {
      for (const uid of uids) {
        const mail = await this.#fetchInPieces(uid);
        if (mail) onMail(mail);
      }
      return;
    }
    const query = { uid: true, size: true, source: { start: 0, maxLength: MAX_MAIL_BYTES } };
    for await (const msg of this.#client.fetch(toUidSet(uids), query, { uid: true })) {
      if (!msg.source) continue;
      const mail: FetchedMail = { uid: msg.uid, source: msg.source };
      if (msg.size !== undefined && msg.size > msg.source.length) mail.cutFrom = msg.size;
      onMail(mail);
    }
  }

  /**
   * Mail that arrived above `afterUid`, for a trickle of new mail: one UID
   * FETCH `afterUid+1:*` of flags, size and the first piece of each (no
   * SEARCH first), then the rest of each mail in pieces, or in one bulk FETCH
   * when more arrived than expected. Mail already seen, deleted or flagged
   * failed is left out.
   */
  async fetchNew(afterUid: number): Promise<FetchedMail[]> {
    const heads: { uid: number; size: number; piece: Buffer }[] = [];
    const query = { uid: true, flags: true, size: true, source: { start: 0, maxLength: PIECE_BYTES } };
    for await (const msg of this.#client.fetch(`${afterUid + 1}:*`, query, { uid: true })) {
      // `N:*` matches the highest UID even when it is below N (RFC 9051 §6.4.8).
      if (msg.uid <= afterUid) continue;
      const flags = msg.flags ?? new Set<string>();
      if (flags.has('\\Seen') || flags.has('\\Deleted') || flags.has(FAILED_FLAG)) continue;
      heads.push({ uid: msg.uid, size: msg.size ?? 0, piece: msg.source ?? Buffer.alloc(0) });
    }
    heads.sort((a, b) => a.uid - b.uid);
    const whole = heads.filter((h) => h.piece.length >= h.size).map((h) => ({ uid: h.uid, source: h.piece }));
    const partial = heads.filter((h) => h.piece.length < h.size);
    if (partial.length > SMALL_FETCH) {
      whole.push(...(await this.fetch(partial.map((h) => h.uid))));
    } else {
      for (const h of partial) {
        const rest = await this.#fetchInPieces(h.uid, h.piece.length);
        if (!rest) continue;
        const mail: FetchedMail = { uid: h.uid, source: Buffer.concat([h.piece, rest.source]) };
        if (h.size > MAX_MAIL_BYTES) mail.cutFrom = h.size;
        whole.push(mail);
      }
    }
    return whole.sort((a, b) => a.uid - b.uid);
  }

  /** One mail as BODY.PEEK[]<start.PIECE_BYTES> partials: one round trip per piece, none of them stalled. */
  async #fetchInPieces(uid: number, from = 0): Promise<FetchedMail | undefined> {
    const parts: Buffer[] = [];
    let start = from;
    for (; start < MAX_MAIL_BYTES; start += PIECE_BYTES) {
      const want = Math.min(PIECE_BYTES, MAX_MAIL_BYTES - start);
      const query = { uid: true, source: { start, maxLength: want } };
      const msg = await this.#client.fetchOne(String(uid), query, { uid: true });
      if (msg === false) return parts.length > 0 || from > 0 ? { uid, source: Buffer.concat(parts) } : undefined;
      const piece = msg.source ?? Buffer.alloc(0);
      parts.push(piece);
      if (piece.length < want) return { uid, source: Buffer.concat(parts) };
    }
    // Cut at MAX_MAIL_BYTES: ask for the real size, for the log.
    const sized = await this.#client.fetchOne(String(uid), { uid: true, size: true }, { uid: true });
    const mail: FetchedMail = { uid, source: Buffer.concat(parts) };
    if (sized !== false && sized.size !== undefined && sized.size > MAX_MAIL_BYTES) mail.cutFrom = sized.size;
    return mail;
  }

  /** Marks mail as handled per `after_publish`: one STORE, or STORE + UID EXPUNGE, or one UID MOVE. */
  async markProcessed(uids: readonly number[]): Promise<void> {
    if (uids.length === 0) return;
    const set = toUidSet(uids);
    const c = this.#config;
    switch (c.after_publish) {
      case 'seen':
        if (!(await this.#client.messageFlagsAdd(set, ['\\Seen'], { uid: true, silent: true }))) {
          throw new ImapError(`IMAP: UID STORE ${set} +FLAGS (\\Seen) failed`);
        }
        return;
      case 'delete':
        if (!(await this.#client.messageDelete(set, { uid: true }))) {
          throw new ImapError(`IMAP: deleting ${set} (\\Deleted + UID EXPUNGE) failed`);
        }
        return;
      case 'move': {
        const to = c.move_to;
        if (to === undefined) throw new ImapFatalError('imap.move_to is required with imap.after_publish: move', { refused: 'config' });
        await this.#moveCreating(set, to, 'imap.move_to');
        return;
      }
    }
  }

  /**
   * Sets failed mail aside: moved to `failed_folder` (created when missing), or
   * flagged `$LpmqttFailed` in place when there is no such folder or it cannot
   * be used. Returns where it went; throws only when even the flag fails.
   */
  async setAside(uids: readonly number[]): Promise<'moved' | 'flagged'> {
    if (uids.length === 0) return 'moved';
    const set = toUidSet(uids);
    const folder = this.#config.failed_folder;
    if (folder !== null) {
      try {
        await this.#moveCreating(set, folder, 'imap.failed_folder');
        return 'moved';
      } catch (err) {
        this.#log.error(
          { err: { message: imapReason(err) }, uids: set, folder },
          'IMAP: cannot move failed mail to imap.failed_folder; flagging it $LpmqttFailed in place instead',
        );
      }
    }
    if (!(await this.#client.messageFlagsAdd(set, [FAILED_FLAG], { uid: true, silent: true }))) {
      throw new ImapError(`IMAP: UID STORE ${set} +FLAGS (${FAILED_FLAG}) failed`);
    }
    return 'flagged';
  }

  /** NOOP within `ms`, else the connection is closed and this rejects: a half-open TCP connection answers nothing. */
  async noop(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ImapError(`IMAP: NOOP not answered within ${ms / 1000} s`)), ms);
    });
    try {
      await Promise.race([this.#client.noop(), deadline]);
    } catch (err) {
      this.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    if (this.#closed) throw new ImapError('IMAP connection closed during NOOP');
  }

  /**
   * Starts IDLE (re-issued every `idle_timeout` by imapflow); the next command
   * breaks it. The promise settles when IDLE ends; it never rejects.
   */
  idle(): Promise<void> {
    return this.#client.idle().then(
      () => undefined,
      (err: unknown) => {
        this.#log.debug({ err: { message: imapReason(err) } }, 'IMAP IDLE ended with an error');
      },
    );
  }

  /** LOGOUT within `ms`, then the socket is closed in any case. */
  async logout(ms = 2_000): Promise<void> {
    if (this.#closed) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    });
    await Promise.race([this.#client.logout().catch(() => undefined), deadline]);
    clearTimeout(timer);
    this.close();
  }

  /** Drops the connection now. */
  close(): void {
    if (!this.#closed) this.#client.close();
  }

  async #moveCreating(set: string, folder: string, key: string): Promise<void> {
    if (await this.#client.messageMove(set, folder, { uid: true })) return;
    // Most likely [TRYCREATE]: create it and try once more. Several batches may
    // get here at once; a CREATE refused because another one just made the
    // folder is fine, so the second MOVE decides.
    let createError: unknown;
    try {
      await this.#client.mailboxCreate(folder);
      this.#log.info({ folder }, `IMAP: created ${key}`);
    } catch (err) {
      createError = err;
    }
    if (await this.#client.messageMove(set, folder, { uid: true })) return;
    const why = createError === undefined ? 'UID MOVE failed' : `cannot create it: ${imapReason(createError)}`;
    throw new ImapError(`IMAP: cannot move ${set} to ${folder} (${key}): ${why}`, { cause: createError });
  }
}
