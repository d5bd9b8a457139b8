import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_PARSE_OPTIONS, parseMail } from '../../src/core/index.js';
import { formatEvent, jsonLine, launchpadName } from '../../src/commands/watch.js';

const MAILS = join(import.meta.dirname, '../../../shared/launchpad-mails');

function lines(file: string): string[] {
  const out = parseMail(readFileSync(join(MAILS, file)), DEFAULT_PARSE_OPTIONS);
  assert.equal(out.kind, 'events', file);
  return out.kind === 'events' ? out.events.map((e) => formatEvent(e.topic, e.payload)) : [];
}

test('a bug event reads "project #N Status/Importance  title  (by name)", one line per fan-out target', () => {
  assert.deepEqual(lines('001.eml'), [
    'qemu #2072564 Fix Released/Unknown  qemu-aarch64-static segfaults running ldconfig.real (amd64 host)  (by slyon)',
    'ubuntu #2072564 Fix Released/Undecided  qemu-aarch64-static segfaults running ldconfig.real (amd64 host)  (by slyon)',
  ]);
  // Modifier split across two RFC 2047 words: only the Launchpad name is shown.
  assert.deepEqual(lines('006.eml'), [
    'qemu #1880822 Fix Committed/Undecided  CVE-2020-13253 QEMU: sd: OOB access could crash the guest resulting in DoS  (by philmd)',
  ]);
});

test('other notification types read "project event-type  subject"', () => {
  assert.deepEqual(lines('004.eml'), [
    'ubuntu package-build-status  [Build #23830712] s390x build of rdma-core 42.0~202206080810+gitc590cbd5~ubuntu20.04.1 in ubuntu focal RELEASE [~linux-rdma/ubuntu/rdma-core-daily]',
  ]);
});

test('the issue example line', () => {
  const payload = {
    'event-type': 'bug', project: 'nova', 'bug-number': '1859713', status: 'New', importance: 'Undecided',
    title: 'ARM v8.3a pauth not working', subject: '[Bug 1859713] [NEW] ARM v8.3a pauth not working',
    'bug-modifier': 'Ead Grass (grassead)',
  };
  assert.equal(formatEvent('launchpad/nova/bug/1859713', payload), 'nova #1859713 New/Undecided  ARM v8.3a pauth not working  (by grassead)');
});

test('missing fields shorten the line instead of printing "undefined"', () => {
  // An event from the old daemon: no title or subject.
  assert.equal(formatEvent('launchpad/nova/bug/7', { 'event-type': 'bug', project: 'nova', 'bug-number': '7', status: 'New' }), 'nova #7 New');
  assert.equal(formatEvent('launchpad/bug', { 'event-type': 'bug', subject: 'Re: something' }), '-  Re: something');
  assert.equal(formatEvent('launchpad/x/code-review', { 'event-type': 'code-review', project: 'x' }), 'x code-review');
  assert.equal(formatEvent('launchpad/unknown', {}), '- unknown');
  assert.equal(launchpadName('Launchpad Bug Tracker'), 'Launchpad Bug Tracker');
  assert.equal(launchpadName(undefined), '');
});

test('control characters from a mail never reach the terminal', () => {
  const line = formatEvent('launchpad/p/bug/1', {
    'event-type': 'bug', project: 'p\u001b[2J', 'bug-number': '1', status: 'New', importance: 'High',
    title: 'evil \u001b]0;owned\u0007 title\r\nsecond line', 'bug-modifier': 'X (x\u0000y)',
  });
  assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f]/);
  assert.equal(line, 'p [2J #1 New/High  evil ]0;owned title second line  (by X (x y))');
  assert.equal(formatEvent('launchpad/x', 'plain \u001b[31mtext'), 'launchpad/x  plain [31mtext');
});

test('--json lines are {"topic", "payload"}; a payload that is not JSON stays a string', () => {
  assert.equal(jsonLine('launchpad/a/bug/1', Buffer.from('{"event-type":"bug","bug-number":"1"}')),
    '{"topic":"launchpad/a/bug/1","payload":{"event-type":"bug","bug-number":"1"}}');
  assert.equal(jsonLine('launchpad/x', Buffer.from('online')), '{"topic":"launchpad/x","payload":"online"}');
  assert.deepEqual(JSON.parse(jsonLine('t', Buffer.from('a\nb'))), { topic: 't', payload: 'a\nb' });
});
