/**
 * Secrets never reach a log line, an error message, `check-config` output or
 * the status topic (issue #5). Runs the built CLI (`npm run build` first, as
 * `npm test` does) against a real Mosquitto (the shipped firehose config, so
 * the bridge's user has a password) and a real Cyrus, with distinctive
 * passwords, at log level trace, and greps everything that came out.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { startCyrus, type Cyrus } from '../helpers/cyrus.js';
import { BRIDGE_USER, startFirehose, type Firehose } from '../helpers/firehose.js';
import { createTestCa, type TestCa } from '../helpers/testca.js';

const ROOT = join(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/cli.js');
const MAILS = join(ROOT, '../shared/launchpad-mails');

const IMAP_PASSWORD = 'ImapPw-x7Kq2ZtR9vLm';
const MQTT_PASSWORD = 'MqttPw-p3Wn8YcJ5sHd';
const WRONG_IMAP_PASSWORD = 'WrongImap-Gh4Tz8Qe';
const WRONG_MQTT_PASSWORD = 'WrongMqtt-Lk2Vb7Ns';
const SECRETS = [IMAP_PASSWORD, MQTT_PASSWORD, WRONG_IMAP_PASSWORD, WRONG_MQTT_PASSWORD];

/** Every form a secret could leak in: as is, base64 (alone or in an IMAP/SASL PLAIN token), hex. */
function leakForms(): Array<[string, string]> {
  const forms: Array<[string, string]> = [];
  for (const s of SECRETS) {
    forms.push([s, s], [`base64(${s})`, Buffer.from(s).toString('base64')], [`hex(${s})`, Buffer.from(s).toString('hex')]);
    for (const user of ['lpmqtt', BRIDGE_USER]) {
      forms.push([`PLAIN(${user},${s})`, Buffer.from(`\0${user}\0${s}`).toString('base64')]);
    }
  }
  // the middle of a password, in case a line was cut or wrapped
  for (const s of SECRETS) forms.push([`part of ${s}`, s.slice(3, 13)]);
  return forms;
}

function assertNoSecret(what: string, text: string): void {
  assert.ok(text.length > 0 || what.includes('status'), `${what}: captured something`);
  for (const [name, form] of leakForms()) {
    const at = text.indexOf(form);
    assert.equal(at, -1, `${what} leaks ${name}: …${text.slice(Math.max(0, at - 120), at + 40)}…`);
  }
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its end (killed after `timeoutMs`, which fails the test). */
function cli(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Run> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return collect(child, opts.timeoutMs ?? 30000);
}

function collect(child: ReturnType<typeof spawn>, timeoutMs: number): Promise<Run> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`lpmqtt did not end within ${timeoutMs} ms; stdout:\n${stdout.slice(-3000)}\nstderr:\n${stderr.slice(-3000)}`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      // let the pipes drain
      setImmediate(() => resolve({ code, signal, stdout, stderr }));
    });
  });
}

/** Starts `lpmqtt run`; stop() sends SIGTERM and resolves with everything it printed. */
function daemon(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): { exited: Promise<Run>; stop(): Promise<Run> } {
  const child = spawn(process.execPath, [CLI, 'run', ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = collect(child, 60000);
  return {
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let ca: TestCa;
let fh: Firehose;
let cyrus: Cyrus;
let work: string;
let observer: MqttClient;
const statusPayloads: string[] = [];
const eventTopics: string[] = [];

before(async () => {
  assert.ok(existsSync(CLI), `${CLI} missing: run \`npm run build\` first`);
  ca = await createTestCa();
  const cert = await ca.issue('server', ['DNS:localhost', 'IP:127.0.0.1']);
  fh = await startFirehose({ users: { [BRIDGE_USER]: MQTT_PASSWORD }, server: { caFile: ca.caFile, ...cert } });
  cyrus = await startCyrus({ password: IMAP_PASSWORD });
  await cyrus.createFolder('INBOX.failed');
  work = await mkdtemp(join(tmpdir(), 'lpmqtt-secrets-'));
  // Anonymous observer (the firehose lets anyone read): every status payload and event topic.
  observer = await mqtt.connectAsync(fh.url, { protocolVersion: 5, reconnectPeriod: 0 });
  observer.on('message', (topic, payload) => {
    if (topic === 'lpmqtt/status') statusPayloads.push(payload.toString('utf8'));
    else eventTopics.push(topic);
  });
  await observer.subscribeAsync(['lpmqtt/status', 'launchpad/#'], { qos: 1 });
});

after(async () => {
  await observer?.endAsync(true);
  await cyrus?.stop();
  await fh?.stop();
  await ca?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

interface CfgOpts {
  imapPassword?: string | null;
  mqttPassword?: string | null;
  mqttUrl?: string;
  extra?: Record<string, unknown>;
}

async function writeConfig(name: string, o: CfgOpts = {}): Promise<string> {
  const imapPassword = o.imapPassword === undefined ? IMAP_PASSWORD : o.imapPassword;
  const mqttPassword = o.mqttPassword === undefined ? MQTT_PASSWORD : o.mqttPassword;
  const cfg = {
    imap: {
      host: '127.0.0.1',
      port: cyrus.imapPort,
      username: 'lpmqtt',
      ...(imapPassword !== null ? { password: imapPassword } : {}),
      folder: 'INBOX',
      failed_folder: 'INBOX.failed',
      reconnect_max_delay: 1,
    },
    mqtt: {
      url: o.mqttUrl ?? fh.url,
      ...(mqttPassword !== null ? { username: BRIDGE_USER, password: mqttPassword } : {}),
      client_id: `lpmqtt-secrets-${name}`,
      publish_timeout: 5,
    },
    log: { level: 'trace' },
    ...o.extra,
  };
  const file = join(work, `${name}.yaml`);
  await writeFile(file, stringify(cfg));
  return file;
}

const all = (r: Run): string => `${r.stdout}\n${r.stderr}`;

describe('secrets stay out of every output', () => {
  test('check-config masks passwords given inline, by environment, by file and inside the URL', async () => {
    const inline = await cli(['check-config', '-c', await writeConfig('inline')], { cwd: work });
    assert.equal(inline.code, 0, all(inline));
    assert.match(inline.stdout, /password: "?\*\*\*"?/);
    assertNoSecret('check-config (inline)', all(inline));

    const env = await cli(['check-config', '-c', await writeConfig('env', { imapPassword: null, mqttPassword: null, extra: {} })], {
      cwd: work,
      env: { LPMQTT_IMAP_PASSWORD: IMAP_PASSWORD, LPMQTT_MQTT_PASSWORD: MQTT_PASSWORD },
    });
    assertNoSecret('check-config (env)', all(env));

    const pwFile = join(work, 'mqtt-password');
    await writeFile(pwFile, `${MQTT_PASSWORD}\n`);
    const fileCfg = join(work, 'file.yaml');
    await writeFile(fileCfg, stringify({ mqtt: { url: fh.url, username: BRIDGE_USER, password_file: pwFile }, imap: { password: IMAP_PASSWORD } }));
    const fromFile = await cli(['check-config', '-c', fileCfg], { cwd: work });
    assert.equal(fromFile.code, 0, all(fromFile));
    assertNoSecret('check-config (password_file)', all(fromFile));

    const url = `mqtt://${BRIDGE_USER}:${MQTT_PASSWORD}@127.0.0.1:${fh.broker.port}`;
    const inUrl = await cli(['check-config', '-c', await writeConfig('url', { mqttPassword: null, mqttUrl: url })], { cwd: work });
    assert.equal(inUrl.code, 0, all(inUrl));
    assertNoSecret('check-config (URL credentials)', all(inUrl));
  });

  test('invalid configurations report problems without echoing passwords', async () => {
    const cases: Array<[string, string]> = [
      ['bad types next to passwords', stringify({ imap: { password: IMAP_PASSWORD, port: 'x' }, mqtt: { username: 'u', password: MQTT_PASSWORD, qos: 7 } })],
      ['password of the wrong type', `imap:\n  password: [${IMAP_PASSWORD}]\nmqtt:\n  username: u\n  password: {x: ${MQTT_PASSWORD}}\n`],
      ['invalid URL with credentials', stringify({ mqtt: { url: `mqtt://u:${MQTT_PASSWORD}@host with space` } })],
      ['URL with a wrong scheme and credentials', stringify({ mqtt: { url: `http://u:${MQTT_PASSWORD}@127.0.0.1/` } })],
      ['YAML syntax error on the password line', `imap:\n  password: "${IMAP_PASSWORD}\nmqtt:\n  password: ${MQTT_PASSWORD}\n`],
      ['unknown key holding a password', stringify({ imap: { passwd: IMAP_PASSWORD } })],
      ['old INI with a bad value', `[imap]\nhostname = 127.0.0.1\npassword = ${IMAP_PASSWORD}\nport = notaport\n[mqtt]\nhostname = 127.0.0.1\npassword = ${MQTT_PASSWORD}\nusername = u\nport = x\n`],
    ];
    for (const [what, text] of cases) {
      const file = join(work, `invalid-${cases.findIndex((c) => c[0] === what)}.${what.startsWith('old INI') ? 'conf' : 'yaml'}`);
      await writeFile(file, text);
      const r = await cli(['check-config', '-c', file], { cwd: work });
      // check-config answers 1 for an invalid file (SPEC §6); `run` would exit 2.
      assert.equal(r.code, 1, `${what}: exit 1\n${all(r)}`);
      assert.ok(r.stderr.trim().length > 0, `${what}: explains the problem`);
      assertNoSecret(`check-config (${what})`, all(r));
    }
  });

  test('replay publishing at log level trace, then with a wrong MQTT password', async () => {
    const good = await cli(['replay', '-c', await writeConfig('replay'), join(MAILS, '001.eml')], { cwd: work });
    assert.equal(good.code, 0, all(good));
    assertNoSecret('replay (trace)', all(good));

    const bad = await cli(['replay', '-c', await writeConfig('replay-bad', { mqttPassword: WRONG_MQTT_PASSWORD }), join(MAILS, '001.eml')], {
      cwd: work,
    });
    assert.equal(bad.code, 1, all(bad));
    assert.match(all(bad), /refused|not authori[sz]ed|bad user ?name or password/i, 'names the reason');
    assertNoSecret('replay (wrong MQTT password)', all(bad));

    const url = `mqtt://${BRIDGE_USER}:${MQTT_PASSWORD}@127.0.0.1:${fh.broker.port}`;
    const inUrl = await cli(['replay', '-c', await writeConfig('replay-url', { mqttPassword: null, mqttUrl: url }), join(MAILS, '001.eml')], {
      cwd: work,
    });
    assert.equal(inUrl.code, 0, all(inUrl));
    assertNoSecret('replay (URL credentials)', all(inUrl));
  });

  test('the daemon at log level trace: a mail published, stopped with SIGTERM; status payloads too', async () => {
    const published = eventTopics.length;
    const statusSeen = statusPayloads.length;
    const d = daemon(['-c', await writeConfig('run')], { cwd: work });
    try {
      await until('status online', () => statusPayloads.slice(statusSeen).includes('online'));
      await cyrus.deliver(await readFile(join(MAILS, '001.eml')));
      await until('the event', () => eventTopics.length > published);
    } finally {
      const r = await d.stop();
      assert.equal(r.code, 0, all(r));
      assert.ok(all(r).length > 1000, 'trace logging produced output');
      assertNoSecret('lpmqtt run (trace)', all(r));
    }
    await until('status offline', () => statusPayloads.slice(statusSeen).includes('offline'));
  });

  test('the daemon with a wrong IMAP password exits 1 naming the problem, without the password', async () => {
    const d = daemon(['-c', await writeConfig('run-bad-imap', { imapPassword: WRONG_IMAP_PASSWORD })], { cwd: work });
    const r = await Promise.race([d.exited, new Promise<Run>((resolve) => setTimeout(() => void d.stop().then(resolve), 30000))]);
    assert.equal(r.code, 1, `exits 1 by itself\n${all(r).slice(-2000)}`);
    assert.match(all(r), /IMAP/);
    assert.match(all(r), /authenticat|log ?in|credentials/i);
    assertNoSecret('lpmqtt run (wrong IMAP password)', all(r));
  });

  test('the daemon with a wrong MQTT password exits 1 naming the problem, without the password', async () => {
    const d = daemon(['-c', await writeConfig('run-bad-mqtt', { mqttPassword: WRONG_MQTT_PASSWORD })], { cwd: work });
    const r = await Promise.race([d.exited, new Promise<Run>((resolve) => setTimeout(() => void d.stop().then(resolve), 30000))]);
    assert.equal(r.code, 1, `exits 1 by itself\n${all(r).slice(-2000)}`);
    assert.match(all(r), /MQTT/);
    assertNoSecret('lpmqtt run (wrong MQTT password)', all(r));
  });

  test('the daemon with passwords from the environment and credentials in the MQTT URL', async () => {
    const published = eventTopics.length;
    const url = `mqtt://${BRIDGE_USER}:${MQTT_PASSWORD}@127.0.0.1:${fh.broker.port}`;
    const d = daemon(['-c', await writeConfig('run-env-url', { imapPassword: null, mqttPassword: null, mqttUrl: url })], {
      cwd: work,
      env: { LPMQTT_IMAP_PASSWORD: IMAP_PASSWORD },
    });
    try {
      await cyrus.deliver(await readFile(join(MAILS, '009.eml')));
      await until('the event', () => eventTopics.length > published);
    } finally {
      const r = await d.stop();
      assertNoSecret('lpmqtt run (env + URL credentials)', all(r));
    }
  });
});

test('the broker really checked those passwords (the tests above would pass vacuously otherwise)', async () => {
  const raw = await readFile(join(MAILS, '001.eml'));
  assert.ok(raw.length > 0);
  await assert.rejects(mqtt.connectAsync(fh.url, { protocolVersion: 5, reconnectPeriod: 0, username: BRIDGE_USER, password: WRONG_MQTT_PASSWORD }));
  const ok = await mqtt.connectAsync(fh.url, { protocolVersion: 5, reconnectPeriod: 0, username: BRIDGE_USER, password: MQTT_PASSWORD });
  await ok.endAsync();
  assert.ok(eventTopics.some((t) => t.startsWith('launchpad/qemu/')), 'replay published through the password-protected broker');
  assertNoSecret('status topic payloads', statusPayloads.join('\n'));
});
