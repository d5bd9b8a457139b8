/**
 * The firehose's browser contract: a page served from elsewhere subscribes to
 * launchpad/# over the shipped Mosquitto config's websockets listener with
 * mqtt.js, anonymously, and shows the events the bridge publishes. Runs
 * Debian's chromium headless through playwright-core.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import { chromium, type Browser } from 'playwright-core';
import { Bridge } from '../../src/bridge.js';
import { configSchema } from '../../src/config/schema.js';
import { DEFAULT_PARSE_OPTIONS, parseMail, type LpEvent } from '../../src/core/index.js';
import { startCyrus, type Cyrus } from '../helpers/cyrus.js';
import { BRIDGE_USER, startFirehose, type Firehose } from '../helpers/firehose.js';
import { createTestCa, type TestCa } from '../helpers/testca.js';

const ROOT = join(import.meta.dirname, '../..');
const FIXTURES = join(ROOT, 'test/fixtures/browser');
const MAILS = join(ROOT, '../shared/launchpad-mails');
const BRIDGE_PASSWORD = 'browser-bridge-pw-3Kd9';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

let ca: TestCa;
let fh: Firehose;
let cyrus: Cyrus;
let bridge: Bridge;
let server: Server;
let pageUrl: string;
let browser: Browser | undefined;

/** Serves the page, its script and mqtt.js's browser bundle; nothing else. */
function servePage(): Promise<{ server: Server; base: string }> {
  const files: Record<string, [string, string]> = {
    '/': [join(FIXTURES, 'index.html'), 'text/html; charset=utf-8'],
    '/app.js': [join(FIXTURES, 'app.js'), 'text/javascript'],
    '/mqtt.min.js': [join(ROOT, 'node_modules/mqtt/dist/mqtt.min.js'), 'text/javascript'],
  };
  const srv = createServer((req, res) => {
    const entry = files[new URL(req.url ?? '/', 'http://x').pathname];
    if (!entry) {
      res.writeHead(404).end();
      return;
    }
    readFile(entry[0]).then(
      (body) => res.writeHead(200, { 'content-type': entry[1] }).end(body),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') reject(new Error('page server has no port'));
      else resolve({ server: srv, base: `http://127.0.0.1:${addr.port}` });
    });
  });
}

before(async () => {
  ca = await createTestCa();
  const cert = await ca.issue('server', ['DNS:localhost', 'IP:127.0.0.1']);
  [fh, cyrus] = await Promise.all([
    startFirehose({ users: { [BRIDGE_USER]: BRIDGE_PASSWORD }, server: { caFile: ca.caFile, ...cert } }),
    startCyrus(),
  ]);
  // The real bridge, logged in to the firehose as its publishing user.
  const config = configSchema.parse({
    imap: { host: '127.0.0.1', port: cyrus.imapPort, username: cyrus.user, password: cyrus.password, failed_folder: null },
    mqtt: { url: fh.url, username: BRIDGE_USER, password: BRIDGE_PASSWORD, client_id: 'lpmqtt-browser-test' },
  });
  bridge = new Bridge({ config, log: pino({ level: 'error' }) });
  await bridge.start();
  const page = await servePage();
  server = page.server;
  pageUrl = `${page.base}/?ws=${encodeURIComponent(fh.wsUrl)}`;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await bridge?.stop();
  await cyrus?.stop();
  await fh?.stop();
  await ca?.remove();
});

test('a page subscribed to launchpad/# over websockets shows the bug events the bridge published', async () => {
  assert.ok(browser);
  const page = await browser.newPage();
  const consoleErrors: string[] = [];
  page.on('pageerror', (err) => consoleErrors.push(err.message));
  await page.goto(pageUrl);
  await page.waitForSelector('body[data-subscribed="yes"]', { timeout: 15000 });

  // What the bridge must publish for this mail (the parser is tested elsewhere).
  const raw = await readFile(join(MAILS, '001.eml'));
  const outcome = parseMail(raw, DEFAULT_PARSE_OPTIONS);
  assert.equal(outcome.kind, 'events');
  const events = outcome.kind === 'events' ? outcome.events : [];
  assert.ok(events.length >= 2, 'fan-out: more than one target');
  await cyrus.deliver(raw);

  // a string: the test is compiled without DOM types
  await page.waitForFunction(`document.querySelectorAll('#events li').length >= ${events.length}`, undefined, { timeout: 15000 });
  const shown = await page.$$eval('#events li', (lis) =>
    lis.map((li) => ({
      topic: li.querySelector('.topic')?.textContent ?? '',
      bug: li.querySelector('.bug')?.textContent ?? '',
      project: li.querySelector('.project')?.textContent ?? '',
      title: li.querySelector('.title')?.textContent ?? '',
    })),
  );
  const first = events[0] as LpEvent;
  const bug = String(first.payload['bug-number']);
  const title = String(first.payload.title);
  assert.match(bug, /^\d+$/);
  assert.ok(title.length > 5);
  assert.deepEqual(shown.map((s) => s.topic), events.map((e) => e.topic));
  for (const [i, s] of shown.entries()) {
    assert.equal(s.bug, `Bug #${bug}`);
    assert.equal(s.title, title);
    assert.equal(s.project, String(events[i]?.payload.project));
  }
  await page.screenshot({ path: '/tmp/lpmqtt-browser.png', fullPage: true });
  assert.deepEqual(consoleErrors, []);
  await page.close();
});

test('a hostile title is shown as text, never run as HTML', async () => {
  assert.ok(browser);
  const page = await browser.newPage();
  await page.goto(pageUrl);
  await page.waitForSelector('body[data-subscribed="yes"]', { timeout: 15000 });
  const evil = '<img src=x onerror="document.body.dataset.pwned=1">';
  await cyrus.deliver(
    [
      'From: Mallory <1@bugs.launchpad.net>',
      `Subject: [Bug 1] ${evil}`,
      'Message-Id: <evil@example.org>',
      'X-Generated-By: Launchpad (canonical.com)',
      'X-Launchpad-Notification-Type: bug',
      'X-Launchpad-Bug: product=evil; status=New',
      '',
      'body',
      '',
    ].join('\r\n'),
  );
  await page.waitForSelector('#events li', { timeout: 15000 });
  assert.equal(await page.getAttribute('#events li', 'data-topic'), 'launchpad/evil/bug/1');
  assert.equal(await page.textContent('#events li .title'), evil);
  assert.equal(await page.$('#events img'), null);
  assert.equal(await page.getAttribute('body', 'data-pwned'), null);
  await page.close();
});
