import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { clientOptions, isLoopbackHost } from '../../src/imap/session.js';

/** The imapflow logger clientOptions() builds for `imap`, and the pino lines it wrote. */
function loggerFor(imap: Record<string, unknown>): { logger: Record<string, (...a: unknown[]) => void>; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
  const config = configSchema.parse({ imap: { username: 'lpmqtt', password: 'x', ...imap }, mqtt: {} }).imap;
  return { logger: clientOptions(config, log).logger as unknown as Record<string, (...a: unknown[]) => void>, lines };
}

const DOWNGRADE = { msg: 'Server does not support STARTTLS, continuing over an unencrypted connection', host: 'h', port: 143 };

test('isLoopbackHost knows this machine by name and address, and nothing else', () => {
  for (const h of ['localhost', 'LOCALHOST', 'imap.localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['imap.example.org', '10.0.0.1', '127.0.0.1.example.org', 'localhost.example.org', '::2', '']) assert.ok(!isLoopbackHost(h), h);
});

test('imapflow\'s STARTTLS downgrade warning is debug for a plain connection on loopback', () => {
  const { logger, lines } = loggerFor({ host: '127.0.0.1', tls: false });
  logger['warn']!(DOWNGRADE);
  logger['warn']!({ msg: 'something else' });
  assert.deepEqual(lines.map((l) => [l.level, l.msg]), [[40, 'something else']]);
});

test('it stays a warning for a server elsewhere', () => {
  const { logger, lines } = loggerFor({ host: 'imap.example.org', tls: false });
  logger['warn']!(DOWNGRADE);
  assert.deepEqual(lines.map((l) => l.level), [40]);
});

test('imapflow can ask whether a level is logged, so it builds no protocol lines it would drop', () => {
  const { logger } = loggerFor({ host: '127.0.0.1', tls: false });
  const isLevelEnabled = logger['isLevelEnabled'] as unknown as (level: string) => boolean;
  assert.equal(typeof isLevelEnabled, 'function');
  assert.equal(isLevelEnabled('trace'), false);
  assert.equal(isLevelEnabled('debug'), false);
  // imapflow runs one notch quieter than our own info level.
  assert.equal(isLevelEnabled('info'), false);
  assert.equal(isLevelEnabled('warn'), true);
});
