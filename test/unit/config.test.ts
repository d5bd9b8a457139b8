import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { configFromObject, imapPort, loadConfig, maskSecrets, maskUrl } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { iniBoolean, interpolate, looksLikeIni, parseIni } from '../../src/config/ini.js';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'lpmqtt-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function problemsOf(p: Promise<unknown>): Promise<readonly string[]> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the config to be rejected');
}

/** A config as the old Python daemon's puppet template wrote it, with the options the daemon read. */
const OLD_INI = `# /etc/lpmqtt.conf -- managed by puppet
[imap]
hostname = imap.example.org
username = lpmqtt@example.org
password = s3cr%%et
use_ssl = True
folder = INBOX
delete-old = yes
idle-timeout = 600

[mqtt]
hostname = firehose.openstack.org
port = 1884
base_topic = launchpad
keepalive = 30
username = infra
password = hunter2
qos = 2
`;

test('no config file: every default, port 143, source undefined', async (t) => {
  const dir = await tempDir(t);
  const { config, source } = await loadConfig({ cwd: dir, env: {} });
  assert.equal(source, undefined);
  assert.equal(config.imap.host, '127.0.0.1');
  assert.equal(config.imap.port, 143);
  assert.equal(config.imap.folder, 'INBOX');
  assert.equal(config.imap.after_publish, 'seen');
  assert.equal(config.imap.failed_folder, 'INBOX.failed');
  assert.equal(config.mqtt.url, 'mqtt://127.0.0.1:1883');
  assert.equal(config.mqtt.base_topic, 'launchpad');
  assert.equal(config.mqtt.qos, 1);
  assert.equal(config.parse.fanout, 'all');
  assert.equal(config.parse.max_body_bytes, 65536);
  assert.equal(config.log.level, 'info');
  assert.equal(config.imap.password, undefined);
});

test('lpmqtt.yaml in the working directory is found; tls makes the default port 993', async (t) => {
  const dir = await tempDir(t);
  await writeFile(
    path.join(dir, 'lpmqtt.yaml'),
    'imap:\n  host: mail.example.org\n  tls: true\n  password: pw\nmqtt:\n  base_topic: lp\nparse:\n  fanout: first\n',
  );
  const { config, source } = await loadConfig({ cwd: dir, env: {} });
  assert.equal(source, path.join(dir, 'lpmqtt.yaml'));
  assert.equal(config.imap.host, 'mail.example.org');
  assert.equal(config.imap.port, 993);
  assert.equal(config.imap.password, 'pw');
  assert.equal(config.mqtt.base_topic, 'lp');
  assert.equal(config.parse.fanout, 'first');
});

test('an explicit port wins over the tls default; imapPort() agrees', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'lpmqtt.yaml'), 'imap:\n  tls: true\n  port: 10993\n');
  const { config } = await loadConfig({ cwd: dir, env: {} });
  assert.equal(config.imap.port, 10993);
  assert.equal(imapPort({ tls: true }), 993);
  assert.equal(imapPort({ tls: false }), 143);
  assert.equal(imapPort({ tls: false, port: 2143 }), 2143);
});

test('rc names and JSON are found too; lpmqtt.yaml comes first', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, '.lpmqttrc.json'), JSON.stringify({ mqtt: { base_topic: 'from-json' } }));
  let { config, source } = await loadConfig({ cwd: dir, env: {} });
  assert.equal(config.mqtt.base_topic, 'from-json');
  assert.equal(path.basename(source ?? ''), '.lpmqttrc.json');
  await writeFile(path.join(dir, 'lpmqtt.yaml'), 'mqtt:\n  base_topic: from-yaml\n');
  ({ config, source } = await loadConfig({ cwd: dir, env: {} }));
  assert.equal(config.mqtt.base_topic, 'from-yaml');
  assert.equal(path.basename(source ?? ''), 'lpmqtt.yaml');
});

test('the search looks in the working directory only, not in its parents', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'lpmqtt.yaml'), 'mqtt:\n  base_topic: parent\n');
  await mkdir(path.join(dir, 'sub'));
  const { config, source } = await loadConfig({ cwd: path.join(dir, 'sub'), env: {} });
  assert.equal(source, undefined);
  assert.equal(config.mqtt.base_topic, 'launchpad');
});

test('-c FILE: JSON by extension, YAML otherwise', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'a.json'), '{"imap": {"folder": "Launchpad"}}');
  await writeFile(path.join(dir, 'b.conf'), 'imap:\n  folder: Other\n');
  assert.equal((await loadConfig({ cwd: dir, file: 'a.json', env: {} })).config.imap.folder, 'Launchpad');
  assert.equal((await loadConfig({ cwd: dir, file: 'b.conf', env: {} })).config.imap.folder, 'Other');
});

test('an empty file or a section with every key commented out means defaults', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'empty.yaml'), '');
  await writeFile(path.join(dir, 'null.yaml'), 'imap:\n  # host: x\nmqtt:\n');
  assert.equal((await loadConfig({ cwd: dir, file: 'empty.yaml', env: {} })).config.imap.port, 143);
  assert.equal((await loadConfig({ cwd: dir, file: 'null.yaml', env: {} })).config.mqtt.qos, 1);
});

test('every problem is reported at once, each naming the file and the dotted key', async (t) => {
  const dir = await tempDir(t);
  await writeFile(
    path.join(dir, 'lpmqtt.yaml'),
    [
      'imap:',
      '  port: "x"',
      '  hostname: mail', // old INI name: unknown here
      '  after_publish: move', // without move_to
      'mqtt:',
      '  qos: 3',
      '  url: http://broker',
      '  keepalive: 1.5',
      'parse:',
      '  fanout: some',
      'log:',
      '  level: loud',
      'extra: 1',
    ].join('\n'),
  );
  const problems = await problemsOf(loadConfig({ cwd: dir, env: {} }));
  const expected = [
    'lpmqtt.yaml: imap.port: expected number, got "x"',
    'lpmqtt.yaml: imap.hostname: unknown key (did you mean host?)',
    'lpmqtt.yaml: imap.move_to: required when imap.after_publish is "move"',
    'lpmqtt.yaml: mqtt.qos: expected one of 0, 1, 2, got 3',
    'lpmqtt.yaml: mqtt.url: expected a URL with scheme mqtt:, mqtts:, ws: or wss:, got "http://broker"',
    'lpmqtt.yaml: mqtt.keepalive: expected a whole number, got 1.5',
    'lpmqtt.yaml: parse.fanout: expected one of "all", "first", got "some"',
    'lpmqtt.yaml: log.level: expected one of "trace", "debug", "info", "warn", "error", "fatal", "silent", got "loud"',
    'lpmqtt.yaml: extra: unknown key',
  ];
  for (const e of expected) assert.ok(problems.includes(e), `missing problem: ${e}\ngot:\n${problems.join('\n')}`);
  assert.equal(problems.length, expected.length, problems.join('\n'));
});

test('the ConfigError message lists every problem, one per line', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'lpmqtt.yaml'), 'imap:\n  port: 0\nmqtt:\n  qos: -1\n');
  await assert.rejects(loadConfig({ cwd: dir, env: {} }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /2 problems/);
    assert.match(err.message, /\n {2}lpmqtt\.yaml: imap\.port: must be ≥ 1, got 0/);
    assert.match(err.message, /\n {2}lpmqtt\.yaml: mqtt\.qos: expected one of 0, 1, 2, got -1/);
    return true;
  });
});

test('bad values: wrong types, ranges, empty strings, bad listen address', async () => {
  const problems = await problemsOf(
    configFromObject(
      {
        imap: { host: '', tls: 'yes', batch_size: 0, idle_timeout: -5 },
        mqtt: { base_topic: 'a/#', status_topic: '' },
        parse: { max_body_bytes: 'big' },
        metrics: { listen: 'nowhere' },
        verify: { dkim: 1 },
      },
      { name: 'x.yaml' },
    ),
  );
  const want = [
    'x.yaml: imap.host: must not be empty',
    'x.yaml: imap.tls: expected boolean, got "yes"',
    'x.yaml: imap.batch_size: must be ≥ 1, got 0',
    'x.yaml: imap.idle_timeout: must be > 0, got -5',
    'x.yaml: mqtt.base_topic: must not contain +, # or NUL, got "a/#"',
    'x.yaml: mqtt.status_topic: must not be empty',
    'x.yaml: parse.max_body_bytes: expected number, got "big"',
    'x.yaml: metrics.listen: expected HOST:PORT, e.g. 127.0.0.1:9464, got "nowhere"',
    'x.yaml: verify.dkim: expected boolean, got 1',
  ];
  for (const w of want) assert.ok(problems.includes(w), `missing: ${w}\ngot:\n${problems.join('\n')}`);
});

test('a wrongly typed password is reported without showing it', async () => {
  const problems = await problemsOf(configFromObject({ imap: { password: 12345678 } }, { name: 'x.yaml' }));
  assert.deepEqual(problems, ['x.yaml: imap.password: expected string, got a number']);
});

test('YAML syntax errors name the file and line', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'lpmqtt.yaml'), 'imap:\n  host: a\n  host: b\n');
  const problems = await problemsOf(loadConfig({ cwd: dir, env: {} }));
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /^lpmqtt\.yaml:3:\d+: not valid YAML: /);
});

test('a top level that is not a mapping is an error', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'list.yaml'), '- a\n- b\n');
  const problems = await problemsOf(loadConfig({ cwd: dir, file: 'list.yaml', env: {} }));
  assert.deepEqual(problems, ['list.yaml: expected a mapping of sections (imap:, mqtt:, …), got a list']);
});

test('an unreadable -c file is a ConfigError naming it', async (t) => {
  const dir = await tempDir(t);
  const problems = await problemsOf(loadConfig({ cwd: dir, file: 'missing.yaml', env: {} }));
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /^missing\.yaml: cannot read config file: ENOENT/);
});

test('cross-field rules: move_to and failed_folder must differ from folder', async () => {
  const problems = await problemsOf(
    configFromObject({ imap: { folder: 'Lp', after_publish: 'move', move_to: 'Lp', failed_folder: 'Lp' } }, { name: 'c.yaml' }),
  );
  assert.deepEqual(problems, [
    'c.yaml: imap.move_to: must differ from imap.folder ("Lp")',
    'c.yaml: imap.failed_folder: must differ from imap.folder ("Lp"); use null to leave failed mail flagged in place',
  ]);
  const ok = await configFromObject({ imap: { after_publish: 'move', move_to: 'INBOX.done', failed_folder: null } });
  assert.equal(ok.imap.move_to, 'INBOX.done');
  assert.equal(ok.imap.failed_folder, null);
});

test('verify.dkim and verify.authserv_id may be set together', async () => {
  const config = await configFromObject({ verify: { dkim: true, authserv_id: 'mx.example.org' } });
  assert.equal(config.verify.dkim, true);
  assert.equal(config.verify.authserv_id, 'mx.example.org');
  assert.equal(config.verify.domain, 'launchpad.net');
});

test('env passwords override the file', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'lpmqtt.yaml'), 'imap:\n  password: from-file\nmqtt:\n  username: u\n  password: file-mqtt\n');
  const { config } = await loadConfig({
    cwd: dir,
    env: { LPMQTT_IMAP_PASSWORD: 'from-env', LPMQTT_MQTT_PASSWORD: 'env-mqtt' },
  });
  assert.equal(config.imap.password, 'from-env');
  assert.equal(config.mqtt.password, 'env-mqtt');
  // An empty variable does not count.
  const again = await loadConfig({ cwd: dir, env: { LPMQTT_IMAP_PASSWORD: '' } });
  assert.equal(again.config.imap.password, 'from-file');
});

test('password_file is read (trailing newline trimmed), relative to the config file', async (t) => {
  const dir = await tempDir(t);
  await mkdir(path.join(dir, 'etc'));
  await writeFile(path.join(dir, 'etc', 'imap.pw'), 'p@ss word\n');
  await writeFile(path.join(dir, 'etc', 'lpmqtt.yaml'), 'imap:\n  password_file: imap.pw\n');
  const { config } = await loadConfig({ cwd: dir, file: 'etc/lpmqtt.yaml', env: {} });
  assert.equal(config.imap.password, 'p@ss word');
  assert.equal(config.imap.password_file, path.join(dir, 'etc', 'imap.pw'));
  // The environment still wins, and then the file is not needed at all.
  const env = await loadConfig({ cwd: dir, file: 'etc/lpmqtt.yaml', env: { LPMQTT_IMAP_PASSWORD: 'e' } });
  assert.equal(env.config.imap.password, 'e');
});

test('an unreadable password_file is an error naming the key and the file', async (t) => {
  const dir = await tempDir(t);
  // A dangling symlink cannot be read even by root.
  await symlink(path.join(dir, 'nowhere'), path.join(dir, 'mqtt.pw'));
  await writeFile(path.join(dir, 'lpmqtt.yaml'), 'mqtt:\n  username: u\n  password_file: mqtt.pw\n');
  const problems = await problemsOf(loadConfig({ cwd: dir, env: {} }));
  assert.equal(problems.length, 1);
  assert.ok(
    problems[0]!.startsWith(`lpmqtt.yaml: mqtt.password_file: cannot read ${path.join(dir, 'mqtt.pw')}: ENOENT`),
    problems[0],
  );
});

test('password and password_file together are an error; so is a CA file that is not there', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'pw'), 'x');
  await writeFile(
    path.join(dir, 'lpmqtt.yaml'),
    'imap:\n  password: a\n  password_file: pw\n  ca: missing-ca.pem\nmqtt:\n  password: b\n',
  );
  const problems = await problemsOf(loadConfig({ cwd: dir, env: {} }));
  assert.deepEqual(problems, [
    'lpmqtt.yaml: imap.password_file: set either imap.password or imap.password_file, not both',
    `lpmqtt.yaml: imap.ca: cannot read ${path.join(dir, 'missing-ca.pem')}: ENOENT: no such file or directory, access '${path.join(dir, 'missing-ca.pem')}'`,
    'lpmqtt.yaml: mqtt.username: required when an MQTT password is set',
  ]);
});

test('the old daemon INI file is mapped onto the schema', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'lpmqtt.conf'), OLD_INI);
  const { config, source } = await loadConfig({ cwd: dir, file: 'lpmqtt.conf', env: {} });
  assert.equal(source, path.join(dir, 'lpmqtt.conf'));
  assert.equal(config.imap.host, 'imap.example.org');
  assert.equal(config.imap.username, 'lpmqtt@example.org');
  assert.equal(config.imap.password, 's3cr%et'); // configparser: %% is one %
  assert.equal(config.imap.tls, true);
  assert.equal(config.imap.port, 993);
  assert.equal(config.imap.folder, 'INBOX');
  assert.equal(config.imap.after_publish, 'delete');
  assert.equal(config.imap.idle_timeout, 600);
  assert.equal(config.mqtt.url, 'mqtt://firehose.openstack.org:1884');
  assert.equal(config.mqtt.base_topic, 'launchpad');
  assert.equal(config.mqtt.keepalive, 30);
  assert.equal(config.mqtt.username, 'infra');
  assert.equal(config.mqtt.password, 'hunter2');
  assert.equal(config.mqtt.qos, 2);
});

test('INI: detected by content whatever the extension; defaults like the old daemon', async (t) => {
  const dir = await tempDir(t);
  // As the puppet template renders unset options: empty values mean "not set".
  await writeFile(
    path.join(dir, 'lpmqtt.yaml'),
    '[imap]\nhostname = mail\nusername = bot\npassword = pw\nuse_ssl = false\nfolder = INBOX\n\n[mqtt]\nhostname = broker\nbase_topic = launchpad\nusername =\npassword =\n',
  );
  const { config } = await loadConfig({ cwd: dir, env: {} });
  assert.equal(config.imap.tls, false);
  assert.equal(config.imap.port, 143);
  assert.equal(config.imap.after_publish, 'seen');
  assert.equal(config.mqtt.url, 'mqtt://broker:1883');
  assert.equal(config.mqtt.username, undefined);
  assert.equal(config.mqtt.password, undefined);
});

test('INI: unknown options and sections, bad numbers and booleans, all at once', async (t) => {
  const dir = await tempDir(t);
  await writeFile(
    path.join(dir, 'old.conf'),
    '[imap]\nhostname = mail\nport = imaps\nuse_ssl = maybe\ndelete-old = sometimes\nsmtp = x\n\n[mqtt]\nport = 99999\nqos = 5\nkeepalive = soon\n\n[gerrit]\nhost = review\n',
  );
  const problems = await problemsOf(loadConfig({ cwd: dir, file: 'old.conf', env: {} }));
  const want = [
    'old.conf: [imap] port: expected a whole number, got "imaps"',
    'old.conf: [imap] use_ssl: expected true/false (yes/no, on/off, 1/0), got "maybe"',
    'old.conf: [imap] delete-old: expected true/false (yes/no, on/off, 1/0), got "sometimes"',
    'old.conf: [imap] smtp: unknown option (known: hostname, port, username, password, use_ssl, folder, delete-old, idle-timeout)',
    'old.conf: [mqtt] port: expected a port number 1-65535, got "99999"',
    'old.conf: [mqtt] keepalive: expected a whole number, got "soon"',
    'old.conf: [gerrit]: unknown section (expected [imap] or [mqtt])',
    'old.conf: [mqtt] qos (mqtt.qos): expected one of 0, 1, 2, got 5',
  ];
  for (const w of want) assert.ok(problems.includes(w), `missing: ${w}\ngot:\n${problems.join('\n')}`);
  assert.equal(problems.length, want.length, problems.join('\n'));
});

test('INI reader: configparser rules (":" separator, comments, continuation, case, interpolation)', () => {
  const problems: string[] = [];
  const ini = parseIni('; comment\n[imap]\nHostName: mail\n# another\npassword = a#b ;c\nfolder = one\n  two\n', 'f', problems);
  assert.deepEqual(problems, []);
  const imap = ini.sections.get('imap')!;
  assert.equal(imap.get('hostname')?.value, 'mail');
  assert.equal(imap.get('password')?.value, 'a#b ;c');
  assert.equal(imap.get('folder')?.value, 'one\ntwo');
  const errs: string[] = [];
  assert.equal(interpolate('%(h)s:%%', (n) => (n === 'h' ? 'host' : undefined), (m) => errs.push(m)), 'host:%');
  assert.equal(interpolate('%(nope)s', () => undefined, (m) => errs.push(m)), '%(nope)s');
  assert.deepEqual(errs, ['%(nope)s refers to an option that is not set']);
  assert.equal(iniBoolean('On'), true);
  assert.equal(iniBoolean('0'), false);
  assert.equal(iniBoolean('nah'), undefined);
  assert.ok(looksLikeIni('x = 1\n[mqtt]\n'));
  assert.ok(!looksLikeIni('imap:\n  host: "[imap]"\n'));
  const bad: string[] = [];
  parseIni('orphan = 1\n[imap]\njunk line\nhostname=a\nhostname=b\n', 'g', bad);
  assert.deepEqual(bad, [
    'g:1: option outside of any [section]',
    'g:3: not an "option = value" line: "junk line"',
    'g:5: [imap] hostname is set twice',
  ]);
});

test('maskSecrets hides passwords (and URL credentials), keeps everything else', async () => {
  const config = await configFromObject({
    imap: { password: 'imap-secret' },
    mqtt: { url: 'mqtts://bot:url-secret@broker:8883', username: 'bot', password: 'mqtt-secret' },
  });
  const masked = maskSecrets(config);
  const text = JSON.stringify(masked);
  for (const secret of ['imap-secret', 'mqtt-secret', 'url-secret']) assert.ok(!text.includes(secret), secret);
  assert.equal(masked.imap.password, '***');
  assert.equal(masked.mqtt.password, '***');
  assert.equal(masked.mqtt.url, 'mqtts://bot:***@broker:8883');
  assert.equal(masked.mqtt.username, 'bot');
  // The original is untouched.
  assert.equal(config.imap.password, 'imap-secret');
  assert.equal(maskUrl('mqtt://broker:1883'), 'mqtt://broker:1883');
  // Unencoded `/` and `@` in a password still end up masked whole.
  assert.equal(maskUrl('mqtt://bot:pa/ss@wo@rd@broker:1883'), 'mqtt://bot:***@broker:1883');
  assert.equal(maskUrl('ws://bot@broker:80/mqtt'), 'ws://bot@broker:80/mqtt');
  // No password: nothing to mask, no key invented.
  assert.equal(maskSecrets(await configFromObject({})).imap.password, undefined);
});

test('the example lpmqtt.yaml at the repository root is valid, holds the defaults and names every key', async () => {
  const root = new URL('../../', import.meta.url).pathname;
  const { config, source } = await loadConfig({ cwd: root, env: {} });
  assert.equal(source, path.join(root, 'lpmqtt.yaml'));
  assert.deepEqual(config, await configFromObject({}));
  const text = await readFile(path.join(root, 'lpmqtt.yaml'), 'utf8');
  for (const [section, schema] of Object.entries(configSchema.shape)) {
    assert.match(text, new RegExp(`^${section}:`, 'm'), section);
    const keys = Object.keys((schema as unknown as { def: { innerType: { shape: object } } }).def.innerType.shape);
    for (const key of keys) assert.match(text, new RegExp(`^ {2}#? ?${key}:`, 'm'), `${section}.${key} is not in lpmqtt.yaml`);
  }
});

test('an invalid mqtt.url is reported without the password it carries', async () => {
  await assert.rejects(
    configFromObject({ mqtt: { url: 'mqtt://bot:hunter/2@broker with space:1883' } }),
    (err: Error) => {
      assert.match(err.message, /mqtt\.url/);
      assert.ok(!err.message.includes('hunter'), err.message);
      return true;
    },
  );
});
