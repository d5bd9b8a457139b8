/**
 * Shared pieces of the daemon integration tests: a config pointing at the
 * test servers, a logger that records its lines, and waiting on conditions
 * with a deadline.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { configSchema, type Config, type ConfigInput } from '../../src/config/schema.js';
import type { Logger } from '../../src/log.js';
import type { Cyrus } from '../helpers/cyrus.js';
import type { Mosquitto } from '../helpers/mosquitto.js';

/** Polls `cond` until it holds; fails naming `what` after `ms`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

type Over = { [K in keyof ConfigInput]?: Partial<NonNullable<ConfigInput[K]>> };

/** A full config for the bridge against these servers, with short timers for tests. */
export function testConfig(cyrus: Cyrus, broker: Mosquitto, over: Over = {}): Config {
  return configSchema.parse({
    ...over,
    imap: {
      host: cyrus.host,
      port: cyrus.imapPort,
      username: cyrus.user,
      password: cyrus.password,
      reconnect_max_delay: 2,
      watchdog_timeout: 5,
      ...over.imap,
    },
    mqtt: { url: broker.url, client_id: `lpmqtt-test-${process.pid}`, publish_timeout: 5, ...over.mqtt },
    log: { level: 'debug', ...over.log },
  });
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger whose lines (parsed) land in `lines`; the raw text in `text()`. */
export function recordingLogger(level = 'debug'): { log: Logger; lines: LogLine[]; text(): string } {
  const lines: LogLine[] = [];
  let raw = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const s = chunk.toString('utf8');
      raw += s;
      for (const l of s.split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return { log: pino({ level }, stream), lines, text: () => raw };
}

/** Empties INBOX, first deleting `folders` (failed/done folders of an earlier test). */
export async function resetMailbox(cyrus: Cyrus, folders: readonly string[] = []): Promise<void> {
  await cyrus.withImap(async (c) => {
    for (const f of folders) await c.mailboxDelete(f).catch(() => undefined);
    const lock = await c.getMailboxLock('INBOX');
    try {
      if (c.mailbox && c.mailbox.exists) await c.messageDelete('1:*');
    } finally {
      lock.release();
    }
  });
}
