/**
 * `lpmqtt run` as the operator runs it: the built CLI in its own process,
 * stopped by SIGTERM in the middle of a backlog; and the daemon's logs at
 * trace level never carrying a password.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Bridge } from '../../src/bridge.js';
import { startCyrus, type Cyrus } from '../helpers/cyrus.js';
import { makeBugMail } from '../helpers/mailgen.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { subscribe } from '../helpers/subscriber.js';
import { recordingLogger, testConfig, until } from './daemon-fixture.js';

const CLI = join(import.meta.dirname, '../../dist/cli.js');
const MQTT_USER = 'infra';
const MQTT_PASSWORD = 'mqtt-Pa55-word-xyzzy';
const IMAP_PASSWORD = 'imap-Pa55-word-plugh';

let cyrus: Cyrus;
let broker: Mosquitto;
let work: string;

before(async () => {
  assert.ok(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first`);
  [cyrus, broker] = await Promise.all([
    startCyrus({ password: IMAP_PASSWORD }),
    startMosquitto({ users: { [MQTT_USER]: MQTT_PASSWORD, watcher: 'watcher-pw' }, allowAnonymous: false }),
  ]);
  work = await mkdtemp(join(tmpdir(), 'lpmqtt-cli-'));
});
after(async () => {
  await Promise.all([cyrus?.stop(), broker?.stop(), work ? rm(work, { recursive: true, force: true }) : undefined]);
});

const watcherLogin = { username: 'watcher', password: 'watcher-pw' };

test('SIGTERM in the middle of a backlog: exit 0, status offline, nothing marked that the broker did not get', async (t) => {
  const mails = Array.from({ length: 600 }, (_, i) => makeBugMail(3000 + i));
  await cyrus.deliverMany(mails.map((m) => m.raw));
  const sub = await subscribe(broker.url, 'launchpad/#', watcherLogin);
  t.after(() => sub.close());
  const cfgFile = join(work, 'lpmqtt.yaml');
  await writeFile(
    cfgFile,
    stringify({
      imap: { host: '127.0.0.1', port: cyrus.imapPort, username: cyrus.user, password: IMAP_PASSWORD, batch_size: 50 },
      mqtt: { url: broker.url, username: MQTT_USER, password: MQTT_PASSWORD, client_id: 'lpmqtt-cli-test' },
      log: { level: 'info' },
    }),
  );
  const child = spawn(process.execPath, [CLI, 'run', '-c', cfgFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await sub.waitFor(100, 20_000);
  child.kill('SIGTERM');
  const code = await exited;
  assert.equal(code, 0, out.slice(-2000));
  // Stragglers: wait until the subscriber is quiet.
  await until('subscriber quiet', async () => {
    const n = sub.messages.length;
    await new Promise((r) => setTimeout(r, 100));
    return sub.messages.length === n;
  });
  const got = new Set(sub.messages.map((m) => m.topic));
  const listed = await cyrus.listMessages();
  assert.equal(listed.length, mails.length);
  let seen = 0;
  listed.forEach((msg, i) => {
    if (!msg.flags.has('\\Seen')) return;
    seen += 1;
    for (const target of mails[i]!.targets) {
      assert.ok(got.has(`launchpad/${target}/bug/${mails[i]!.bug}`), `UID ${msg.uid} marked without its ${target} event`);
    }
  });
  assert.ok(seen > 0 && seen < mails.length, `marked ${seen} of ${mails.length}`);
  const status = await subscribe(broker.url, 'lpmqtt/status', watcherLogin);
  t.after(() => status.close());
  await status.waitFor(1, 5_000);
  assert.equal(status.messages[0]!.payload.toString(), 'offline');
  assert.equal(status.messages[0]!.retain, true);
  for (const secret of [IMAP_PASSWORD, MQTT_PASSWORD]) assert.ok(!out.includes(secret), 'no password in the output');
});

test('at trace level, neither password appears in any log line (plain, base64, SASL PLAIN)', async (t) => {
  const sub = await subscribe(broker.url, 'launchpad/#', watcherLogin);
  t.after(() => sub.close());
  const rec = recordingLogger('trace');
  const config = testConfig(cyrus, broker, {
    mqtt: { username: MQTT_USER, password: MQTT_PASSWORD, client_id: 'lpmqtt-secrets-test' },
    log: { level: 'trace' },
  });
  const bridge = new Bridge({ config, log: rec.log });
  await bridge.start();
  await cyrus.deliver(makeBugMail(9000, { targets: 1 }).raw);
  await until('published', () => sub.messages.some((m) => m.topic.endsWith('/bug/1809000')));
  await bridge.stop();
  const text = rec.text();
  assert.ok(text.includes('"component":"imapflow"'), 'imapflow logged through our logger');
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const forms = [
    IMAP_PASSWORD,
    MQTT_PASSWORD,
    b64(IMAP_PASSWORD),
    b64(`\0${cyrus.user}\0${IMAP_PASSWORD}`),
    b64(`${cyrus.user}\0${cyrus.user}\0${IMAP_PASSWORD}`),
  ];
  for (const f of forms) assert.ok(!text.includes(f), `log contains a secret form: ${f.slice(0, 6)}…`);
});
