/**
 * The `lpmqtt` command as a user runs it (spawned through tsx): exit codes,
 * --version and --help, check-config output and masking, parse output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { runCli, type CliRun } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SAMPLES = path.join(ROOT, 'samples');
const REAL = path.join(ROOT, '..', 'shared', 'launchpad-mails');


function lpmqtt(args: string[], opts: { cwd: string; env?: Record<string, string>; input?: Buffer }): Promise<CliRun> {
  return runCli(args, opts);
}

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'lpmqtt-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('--version prints the package version; --help lists every command with examples', async (t) => {
  const cwd = await tempDir(t);
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const v = await lpmqtt(['--version'], { cwd });
  assert.equal(v.code, 0);
  assert.equal(v.stdout.trim(), pkg.version);
  const h = await lpmqtt(['--help'], { cwd });
  assert.equal(h.code, 0);
  for (const cmd of ['run', 'replay', 'parse', 'check-config']) assert.match(h.stdout, new RegExp(`^  ${cmd} `, 'm'), cmd);
  assert.match(h.stdout, /Examples:/);
  assert.match(h.stdout, /Exit status: 0 ok, 1 runtime failure/);
  const sub = await lpmqtt(['replay', '--help'], { cwd });
  assert.equal(sub.code, 0);
  assert.match(sub.stdout, /--dry-run/);
  assert.match(sub.stdout, /--no-verify/);
  assert.match(sub.stdout, /PATH#N/);
});

test('usage errors exit 2: no command, unknown command, unknown option, missing argument', async (t) => {
  const cwd = await tempDir(t);
  const none = await lpmqtt([], { cwd });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /Usage: lpmqtt/);
  const unknown = await lpmqtt(['replai'], { cwd });
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'replai'[\s\S]*Did you mean replay\?/);
  const option = await lpmqtt(['check-config', '--colour'], { cwd });
  assert.equal(option.code, 2);
  assert.match(option.stderr, /unknown option '--colour'/);
  const missing = await lpmqtt(['parse'], { cwd });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /missing required argument 'file'/);
  const optArg = await lpmqtt(['check-config', '-c'], { cwd });
  assert.equal(optArg.code, 2);
  const badJobs = await lpmqtt(['replay', '--dry-run', '--jobs', 'many', '.'], { cwd });
  assert.equal(badJobs.code, 2);
  assert.match(badJobs.stderr, /--jobs <n>' argument 'many' is invalid\. expected a whole number 0-64/);
});

test('check-config without a file prints the defaults and says none was found', async (t) => {
  const cwd = await tempDir(t);
  const r = await lpmqtt(['check-config'], { cwd });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^# no config file found in ${cwd.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `, 'm'));
  const config = parseYaml(r.stdout) as { imap: { port: number; host: string }; mqtt: { base_topic: string } };
  assert.equal(config.imap.port, 143);
  assert.equal(config.mqtt.base_topic, 'launchpad');
});

test('check-config masks every secret: file passwords, env passwords, password_file contents, URL credentials', async (t) => {
  const cwd = await tempDir(t);
  await writeFile(path.join(cwd, 'mqtt.pw'), 'pw-from-file-9\n');
  await writeFile(
    path.join(cwd, 'lpmqtt.yaml'),
    'imap:\n  host: mail.example.org\n  tls: true\n  password: imap-secret-1\nmqtt:\n  url: mqtts://bot:url-secret-2@broker:8883\n  username: bot\n  password_file: mqtt.pw\n',
  );
  const r = await lpmqtt(['check-config'], { cwd });
  assert.equal(r.code, 0, r.stderr);
  for (const secret of ['imap-secret-1', 'url-secret-2', 'pw-from-file-9']) assert.ok(!r.stdout.includes(secret), `${secret} leaked`);
  assert.match(r.stdout, new RegExp(`^# source: ${path.join(cwd, 'lpmqtt.yaml').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  const config = parseYaml(r.stdout) as { imap: Record<string, unknown>; mqtt: Record<string, unknown> };
  assert.equal(config.imap['password'], '***');
  assert.equal(config.imap['port'], 993);
  assert.equal(config.mqtt['password'], '***');
  assert.equal(config.mqtt['password_file'], path.join(cwd, 'mqtt.pw'));
  assert.equal(config.mqtt['url'], 'mqtts://bot:***@broker:8883');

  const env = await lpmqtt(['check-config'], { cwd, env: { LPMQTT_IMAP_PASSWORD: 'env-secret-3' } });
  assert.equal(env.code, 0, env.stderr);
  assert.ok(!env.stdout.includes('env-secret-3'));
  assert.equal((parseYaml(env.stdout) as { imap: Record<string, unknown> }).imap['password'], '***');
});

test('check-config on an invalid file exits 1 and lists every problem on stderr', async (t) => {
  const cwd = await tempDir(t);
  await writeFile(path.join(cwd, 'bad.yaml'), 'imap:\n  port: nope\n  password: 123456\nmqtt:\n  qos: 7\nverbose: true\n');
  const r = await lpmqtt(['check-config', '-c', 'bad.yaml'], { cwd });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /invalid configuration \(4 problems\)/);
  assert.match(r.stderr, /bad\.yaml: imap\.port: expected number, got "nope"/);
  assert.match(r.stderr, /bad\.yaml: imap\.password: expected string, got a number/);
  assert.match(r.stderr, /bad\.yaml: mqtt\.qos: expected one of 0, 1, 2, got 7/);
  assert.match(r.stderr, /bad\.yaml: verbose: unknown key/);
  assert.ok(!r.stderr.includes('123456'), 'a password value leaked into an error');
  const missing = await lpmqtt(['check-config', '-c', 'nope.yaml'], { cwd });
  assert.equal(missing.code, 1);
  // `run` on the same file is an invalid configuration for a command that needs one: exit 2.
  const run = await lpmqtt(['run', '-c', 'bad.yaml'], { cwd });
  assert.equal(run.code, 2);
  assert.match(run.stderr, /bad\.yaml: mqtt\.qos/);
  assert.match(missing.stderr, /nope\.yaml: cannot read config file: ENOENT/);
});

test('check-config reads the old daemon INI file given with -c', async (t) => {
  const cwd = await tempDir(t);
  await writeFile(
    path.join(cwd, 'lpmqtt.conf'),
    '[imap]\nhostname = imap.example.org\nusername = lp\npassword = old-secret\nuse_ssl = True\ndelete-old = True\n\n[mqtt]\nhostname = firehose.example.org\nbase_topic = launchpad\n',
  );
  const r = await lpmqtt(['check-config', '-c', 'lpmqtt.conf'], { cwd });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!r.stdout.includes('old-secret'));
  const config = parseYaml(r.stdout) as { imap: Record<string, unknown>; mqtt: Record<string, unknown> };
  assert.equal(config.imap['host'], 'imap.example.org');
  assert.equal(config.imap['tls'], true);
  assert.equal(config.imap['port'], 993);
  assert.equal(config.imap['after_publish'], 'delete');
  assert.equal(config.mqtt['url'], 'mqtt://firehose.example.org:1883');
});

test('parse prints the topic, aligned key fields and a body preview; exit 0', async (t) => {
  const cwd = await tempDir(t);
  const r = await lpmqtt(['parse', path.join(SAMPLES, 'status-change.eml')], { cwd });
  assert.equal(r.code, 0, r.stderr);
  const golden = JSON.parse(await readFile(path.join(SAMPLES, 'status-change.json'), 'utf8')) as Array<{
    topic: string;
    payload: Record<string, unknown>;
  }>;
  assert.match(r.stdout, new RegExp(`: ${golden.length} events\n`));
  for (const e of golden) {
    assert.ok(r.stdout.includes(e.topic), e.topic);
    const status = String(e.payload['status']);
    assert.match(r.stdout, new RegExp(`^  status: +${status.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  }
  // Field names are padded to one column within an event.
  const block = r.stdout.split('\n\n')[1]!.split('\n').slice(1).filter((l) => /^ {2}\S/.test(l));
  const cols = new Set(block.map((l) => /^ {2}\S+:\s+/.exec(l)![0].length));
  assert.equal(cols.size, 1, block.join('\n'));
  assert.match(r.stdout, /^body \(\d+ bytes\):$/m);
  assert.match(r.stdout, /^ {2}│ /m);
});

test('parse: foreign and private mail get a clear message and exit 0; invalid or unreadable exit 1', async (t) => {
  const cwd = await tempDir(t);
  const foreign = await lpmqtt(['parse', path.join(REAL, '023.eml')], { cwd });
  assert.equal(foreign.code, 0);
  assert.match(foreign.stdout, /^not a Launchpad notification: .*023\.eml/m);
  assert.match(foreign.stdout, /nothing would be published/);
  const priv = await lpmqtt(['parse', path.join(SAMPLES, 'private.eml')], { cwd });
  assert.equal(priv.code, 0);
  assert.match(priv.stdout, /^private bug mail: /m);

  await writeFile(path.join(cwd, 'garbage.eml'), Buffer.from([0, 1, 2, 3, 0xff, 10, 10, 0x41]));
  const invalid = await lpmqtt(['parse', 'garbage.eml'], { cwd });
  assert.equal(invalid.code, 1);
  assert.match(invalid.stdout, /^invalid mail: garbage\.eml/m);

  await symlink(path.join(cwd, 'nowhere'), path.join(cwd, 'dangling.eml'));
  const unreadable = await lpmqtt(['parse', 'dangling.eml'], { cwd });
  assert.equal(unreadable.code, 1);
  assert.match(unreadable.stderr, /dangling\.eml: cannot read: ENOENT/);

  const stdin = await lpmqtt(['parse', '-'], { cwd, input: await readFile(path.join(REAL, '001.eml')) });
  assert.equal(stdin.code, 0, stdin.stderr);
  assert.match(stdin.stdout, /^<stdin>: 2 events$/m);
});

test('parse shows control characters from a mail in caret notation, never raw', async (t) => {
  const cwd = await tempDir(t);
  const mail = (await readFile(path.join(SAMPLES, 'new-bug.eml'), 'latin1')).replace(/\n\n/, '\n\n\u001b[2J\u001b]0;owned\u0007\n');
  await writeFile(path.join(cwd, 'esc.eml'), Buffer.from(mail, 'latin1'));
  const r = await lpmqtt(['parse', 'esc.eml'], { cwd });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!r.stdout.includes('\u001b'), 'raw ESC reached the terminal');
  assert.ok(!r.stdout.includes('\u0007'));
  assert.match(r.stdout, /\^\[\[2J/);
});

test('run with an invalid configuration exits 2 before connecting anywhere', async (t) => {
  const cwd = await tempDir(t);
  await writeFile(path.join(cwd, 'lpmqtt.yaml'), 'imap:\n  after_publish: move\n');
  const r = await lpmqtt(['run'], { cwd });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /lpmqtt\.yaml: imap\.move_to: required when imap\.after_publish is "move"/);
});
