/**
 * Mail into Cyrus over LMTP, like the MX: a backlog at once, or a steady
 * stream of N mails per second that rides out Cyrus restarts.
 *
 * Every mail whose DATA got LMTP's 250 is `accepted` (with the time, for the
 * "longest wait" number). A mail whose connection died after its data was sent
 * but before the reply is `uncertain`: it may or may not be in the mailbox, so
 * it is never sent again (that would be a second copy, a duplicate the daemon
 * did not cause); the audit looks for it in the mailbox instead.
 */
import { LmtpClient, LmtpError } from '../../helpers/lmtp.js';
import { makeBugMail, type BugMailOptions } from '../../helpers/mailgen.js';
import { sleep } from './env.js';

export interface FedMail {
  raw: Buffer;
  /** With or without angle brackets. */
  messageId: string;
  /** Distinct targets (projects) the mail must be published for; [''] for "one event without project". */
  targets: string[];
}

export interface Accepted {
  messageId: string;
  targets: string[];
  /** Date.now() after LMTP's 250. */
  at: number;
}

/** Realistic bug mails with message-ids unique to this feeder's `tag`. */
export function bugMailSource(tag: string, opts: Omit<BugMailOptions, 'messageId'> = {}): (i: number) => FedMail {
  return (i) => {
    const messageId = `<chaos-${tag}-${i}@bugs.launchpad.net>`;
    const m = makeBugMail(i, { ...opts, messageId });
    return { raw: m.raw, messageId: m.messageId, targets: m.targets };
  };
}

const bare = (mid: string): string => mid.replace(/^<|>$/g, '');

export class Feeder {
  readonly accepted = new Map<string, Accepted>();
  readonly uncertain = new Map<string, FedMail>();
  /** LMTP rejections (5xx) by reason: not the daemon's business, reported. */
  readonly rejected: { messageId: string; reply: string }[] = [];
  /** Times a connection could not be made (Cyrus down). */
  connectFailures = 0;
  private next = 0;
  private client: LmtpClient | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private failure: unknown;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly source: (i: number) => FedMail,
    private readonly rcpt = 'lpmqtt',
  ) {}

  get sent(): number {
    return this.next;
  }

  private async conn(): Promise<LmtpClient> {
    const giveUp = Date.now() + 120_000;
    for (;;) {
      if (this.client) return this.client;
      try {
        this.client = await LmtpClient.connect(this.host, this.port);
        return this.client;
      } catch (err) {
        this.connectFailures++;
        if (Date.now() > giveUp) throw new Error(`LMTP 127.0.0.1:${this.port} unreachable for 2 minutes`, { cause: err });
        await sleep(100);
      }
    }
  }

  /** Deliver the next mail; retries the connection until Cyrus takes it (or rejects it). */
  private async deliverNext(): Promise<void> {
    const i = this.next++;
    const mail = this.source(i);
    for (;;) {
      const client = await this.conn();
      try {
        // A connection that died while idle (Cyrus restarted) fails here, before anything of this mail was sent.
        await client.command('RSET', 250);
      } catch {
        this.client = undefined;
        await client.quit().catch(() => undefined);
        continue;
      }
      try {
        await client.send(mail.raw, 'noreply@launchpad.net', [this.rcpt]);
        this.accepted.set(bare(mail.messageId), { messageId: bare(mail.messageId), targets: mail.targets, at: Date.now() });
        return;
      } catch (err) {
        if (err instanceof LmtpError) {
          // Cyrus answered no: the mail is not in the mailbox.
          if (/^5/.test(err.reply)) {
            this.rejected.push({ messageId: mail.messageId, reply: err.reply });
            return;
          }
          await sleep(100);
          continue;
        }
        // The connection died inside the transaction: the mail may be in the mailbox.
        this.client = undefined;
        await client.quit().catch(() => undefined);
        this.uncertain.set(bare(mail.messageId), mail);
        return;
      }
    }
  }

  /** Count a mail delivered some other way (IMAP APPEND) as accepted now. */
  record(mail: FedMail): void {
    this.accepted.set(bare(mail.messageId), { messageId: bare(mail.messageId), targets: mail.targets, at: Date.now() });
  }

  /** The next `n` mails of this feeder's source, without delivering them (for APPEND). */
  take(n: number): FedMail[] {
    return Array.from({ length: n }, () => this.source(this.next++));
  }

  /** Deliver `n` mails as fast as LMTP takes them. */
  async backlog(n: number): Promise<void> {
    for (let k = 0; k < n; k++) await this.deliverNext();
  }

  /** Start delivering `rate` mails per second (paced on the clock, catching up after Cyrus was down). */
  start(rate: number): void {
    if (this.running) throw new Error('feeder already running');
    this.running = true;
    const t0 = Date.now();
    const base = this.next;
    this.loop = (async () => {
      while (this.running) {
        const due = base + Math.floor(((Date.now() - t0) / 1000) * rate);
        if (this.next < due) await this.deliverNext();
        else await sleep(Math.max(1, Math.min(50, 1000 / rate / 2)));
      }
    })().catch((err: unknown) => {
      this.running = false;
      this.failure = err;
    });
  }

  /** Stop the stream (finishing the mail in hand) and close the connection. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    this.loop = undefined;
    await this.client?.quit().catch(() => undefined);
    this.client = undefined;
    if (this.failure !== undefined) throw new Error('the mail feeder failed', { cause: this.failure });
  }
}
