/**
 * The README's first command, as a newcomer runs it: a fresh clone of this
 * repository, `bash scripts/quickstart.sh`, events on the screen, Ctrl-C,
 * nothing left behind. The clone is of the committed HEAD.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { formatEvent } from '../../src/commands/watch.js';

const execFileAsync = promisify(execFile);
const SAMPLES = join(import.meta.dirname, '../../samples');

/** The lines `lpmqtt watch` must print for the samples: their golden events, formatted. */
async function expectedLines(): Promise<string[]> {
  const lines: string[] = [];
  for (const name of (await readdir(SAMPLES)).filter((n) => n.endsWith('.eml'))) {
    const golden = JSON.parse(await readFile(join(SAMPLES, name.replace(/\.eml$/, '.json')), 'utf8')) as { topic: string; payload: unknown }[];
    for (const e of golden) lines.push(formatEvent(e.topic, e.payload));
  }
  return lines.sort();
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Pids whose command line or working directory is inside `dir`. */
async function processesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' ');
      const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '');
      if (cmd.includes(dir) || cwd.startsWith(dir)) found.push(`${pid}: ${cmd}`);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

test('quickstart from a fresh clone: events of every sample shown, Ctrl-C stops and cleans up', { timeout: 420_000 }, async (t) => {
  const { stdout: top } = await execFileAsync('git', ['rev-parse', '--show-toplevel'], { cwd: import.meta.dirname });
  const base = await mkdtemp(join(tmpdir(), 'lpmqtt-qs-test-'));
  const clone = join(base, 'lpmqtt');
  t.after(() => rm(base, { recursive: true, force: true }));
  await execFileAsync('git', ['clone', '--quiet', top.trim(), clone]);

  const started = Date.now();
  // Own process group, as a terminal runs a foreground job; Ctrl-C signals the whole group.
  const child = spawn('bash', ['scripts/quickstart.sh'], { cwd: clone, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const show = (): string => `--- stdout:\n${out}\n--- stderr:\n${err}`;

  const expected = await expectedLines();
  const deadline = Date.now() + 360_000;
  while (!/Press Ctrl-C to stop/.test(err)) {
    if (child.exitCode !== null) assert.fail(`quickstart exited (${child.exitCode}) early\n${show()}`);
    if (Date.now() > deadline) assert.fail(`quickstart did not get ready in time\n${show()}`);
    await sleep(250);
  }
  console.log(`quickstart: events shown ${((Date.now() - started) / 1000).toFixed(1)} s after start (npm ci and build included)`);
  assert.match(err, /All \d+ events of \d+ mails arrived/, show());
  assert.match(err, /INBOX\.failed, which holds 1 mail\)/, show());
  assert.deepEqual(out.trimEnd().split('\n').sort(), expected, show());
  assert.match(out, /^widgetd #2100001 New\/Undecided {2}widgetd segfaults when the config file is empty {2}\(by jibanez\)$/m);

  const config = /config +(\S+lpmqtt\.yaml)/.exec(err)?.[1];
  const cyrusPort = Number(/imap:\/\/127\.0\.0\.1:(\d+)/.exec(err)?.[1]);
  const mqttPort = Number(/Mosquitto +mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(err)?.[1]);
  assert.ok(config !== undefined && cyrusPort > 0 && mqttPort > 0, show());
  assert.ok(existsSync(config));
  assert.equal(await portOpen(cyrusPort), true);
  assert.equal(await portOpen(mqttPort), true);

  // Still running: the bridge stays up until Ctrl-C.
  await sleep(1000);
  assert.equal(child.exitCode, null);
  const stopAt = Date.now();
  process.kill(-child.pid!, 'SIGINT');
  const code = await Promise.race([exited, sleep(60_000, undefined, { ref: false }).then(() => 'timeout' as const)]);
  console.log(`quickstart: stopped ${((Date.now() - stopAt) / 1000).toFixed(1)} s after Ctrl-C`);
  assert.equal(code, 0, show());
  assert.match(err, /Stopped; nothing left behind\./);
  assert.equal(existsSync(config), false, 'the quickstart temp dir is gone');
  assert.equal(await portOpen(cyrusPort), false, 'Cyrus is down');
  assert.equal(await portOpen(mqttPort), false, 'Mosquitto is down');
  assert.deepEqual(await processesUnder(clone), [], 'no process of the clone is left');
});
