/**
 * A small LMTP client (RFC 2033) for delivering test mail into Cyrus the way
 * the real MX does. No PIPELINING: one command, one reply. One connection can
 * carry many transactions (RSET between them).
 */
import { connect, type Socket } from 'node:net';

export class LmtpError extends Error {
  override name = 'LmtpError';
  constructor(
    message: string,
    readonly command: string,
    readonly reply: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface LmtpReply {
  code: number;
  lines: string[];
}

/** Normalise every line ending to CRLF, dot-stuff, and end with CRLF.CRLF (RFC 5321 4.5.2). */
export function encodeData(raw: Buffer | string): Buffer {
  // latin1 maps bytes 1:1 to code units, so 8-bit content survives untouched.
  let s = typeof raw === 'string' ? Buffer.from(raw, 'utf8').toString('latin1') : raw.toString('latin1');
  s = s.replace(/\r\n|\r|\n/g, '\r\n');
  if (s.startsWith('.')) s = '.' + s;
  s = s.replace(/\r\n\./g, '\r\n..');
  if (!s.endsWith('\r\n')) s += '\r\n';
  return Buffer.from(s + '.\r\n', 'latin1');
}

export class LmtpClient {
  private buf = '';
  private replies: LmtpReply[] = [];
  private waiters: { resolve: (r: LmtpReply) => void; reject: (e: Error) => void }[] = [];
  private closedError: Error | null = null;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('LMTP connection closed')));
  }

  /** Connect, read the 220 banner and send LHLO. */
  static async connect(host: string, port: number, lhloName = 'localhost'): Promise<LmtpClient> {
    const socket = connect({ host, port });
    socket.setNoDelay(true);
    const client = new LmtpClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const banner = await client.read();
    if (banner.code !== 220) throw new LmtpError(`LMTP banner was not 220`, '(banner)', banner.lines.join('\n'));
    await client.command(`LHLO ${lhloName}`, 250);
    return client;
  }

  /**
   * One mail transaction. Resolves with the per-recipient replies after DATA
   * (all 250), rejects with LmtpError on the first non-2xx reply (after RSET).
   */
  async send(raw: Buffer | string, from: string, rcpts: string[]): Promise<LmtpReply[]> {
    try {
      await this.command(`MAIL FROM:<${from}>`, 250);
      for (const rcpt of rcpts) await this.command(`RCPT TO:<${rcpt}>`, 250);
      await this.command('DATA', 354);
      this.socket.write(encodeData(raw));
      // LMTP answers DATA once per accepted recipient (RFC 2033 4.2); read them all
      // before judging so the next command's reply is not taken for one of these.
      const results: LmtpReply[] = [];
      for (let i = 0; i < rcpts.length; i++) results.push(await this.read());
      results.forEach((reply, i) => {
        if (reply.code !== 250) {
          throw new LmtpError(`LMTP delivery to <${rcpts[i] ?? '?'}> failed: ${reply.lines.join(' ')}`, 'DATA', reply.lines.join('\n'));
        }
      });
      return results;
    } catch (err) {
      if (this.closedError === null) await this.command('RSET', 250).catch(() => undefined);
      throw err;
    }
  }

  async rset(): Promise<void> {
    await this.command('RSET', 250);
  }

  async quit(): Promise<void> {
    if (this.closedError === null) {
      await this.command('QUIT', 221).catch(() => undefined);
    }
    this.socket.destroy();
  }

  async command(line: string, expect: number): Promise<LmtpReply> {
    if (this.closedError) throw this.closedError;
    this.socket.write(line + '\r\n');
    const reply = await this.read();
    if (reply.code !== expect) {
      throw new LmtpError(`LMTP ${line.split(' ')[0]} got ${reply.code}, expected ${expect}: ${reply.lines.join(' ')}`, line, reply.lines.join('\n'));
    }
    return reply;
  }

  private read(): Promise<LmtpReply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private pending: string[] = [];

  private onData(chunk: Buffer): void {
    this.buf += chunk.toString('latin1');
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      this.pending.push(line);
      // "250-..." continues a multi-line reply, "250 ..." ends it.
      if (!/^\d{3}-/.test(line)) {
        const code = Number.parseInt(line.slice(0, 3), 10);
        const reply: LmtpReply = { code, lines: this.pending };
        this.pending = [];
        const waiter = this.waiters.shift();
        if (waiter) waiter.resolve(reply);
        else this.replies.push(reply);
      }
    }
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }
}
