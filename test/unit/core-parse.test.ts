/** parseMail semantics (SPEC §1–§4) on small hand-made mails. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { DEFAULT_PARSE_OPTIONS, type LpEvent, type ParseOptions, parseMail } from '../../src/core/index.js';
import { fanout, findBugNumber, parseBugTask, splitSubject } from '../../src/core/bug.js';
import { deriveProject, distroFromArchive, projectFromBranch } from '../../src/core/other.js';
import { readHeaders } from '../../src/core/headers.js';

const GEN = 'X-Generated-By: Launchpad (canonical.com); Revision="1"; Instance="x"';

function bugMail(headers: string[], body = 'body\n'): Buffer {
  return Buffer.from(
    [
      'Message-Id: <m1@launchpad.example>',
      'Date: Wed, 12 Mar 2025 16:45:23 -0000',
      'Subject: [Bug 42] Re: thing broke',
      'X-Launchpad-Notification-Type: bug',
      GEN,
      ...headers,
      '',
      body,
    ].join('\n'),
  );
}

function events(raw: Buffer, opts: Partial<ParseOptions> = {}): LpEvent[] {
  const o = parseMail(raw, { ...DEFAULT_PARSE_OPTIONS, ...opts });
  assert.equal(o.kind, 'events', 'reason' in o ? o.reason : o.kind);
  return o.kind === 'events' ? o.events : [];
}

test('DEFAULT_PARSE_OPTIONS are the config schema defaults', () => {
  assert.deepEqual({ ...DEFAULT_PARSE_OPTIONS }, { baseTopic: 'launchpad', fanout: 'all', maxBodyBytes: 65536, privateBugs: 'skip' });
});

test('Launchpad mail iff X-Generated-By contains the word Launchpad', () => {
  const mk = (gen: string | undefined): Buffer =>
    Buffer.from(`Subject: x\n${gen === undefined ? '' : `X-Generated-By: ${gen}\n`}X-Launchpad-Notification-Type: bug\n\nb`);
  assert.equal(parseMail(mk('Launchpad (canonical.com)'), DEFAULT_PARSE_OPTIONS).kind, 'events');
  assert.equal(parseMail(mk('by Launchpad'), DEFAULT_PARSE_OPTIONS).kind, 'events');
  assert.equal(parseMail(mk('=?utf-8?q?Launchpad?='), DEFAULT_PARSE_OPTIONS).kind, 'events');
  for (const gen of [undefined, 'NotLaunchpadReally', 'launchpad', 'Launchpads', 'mailman']) {
    const o = parseMail(mk(gen), DEFAULT_PARSE_OPTIONS);
    assert.equal(o.kind, 'foreign', String(gen));
    assert.ok(o.kind === 'foreign' && o.reason.length > 0);
  }
});

test('no header fields at all → invalid, with a reason', () => {
  for (const raw of [Buffer.alloc(0), Buffer.from('\n\nbody only'), Buffer.from([0xff, 0xfe, 0x00, 0x01]), Buffer.from('just some text without a colon')]) {
    const o = parseMail(raw, DEFAULT_PARSE_OPTIONS);
    assert.equal(o.kind, 'invalid');
    assert.ok(o.kind === 'invalid' && o.reason.length > 0);
  }
});

test('bug number: [Bug N] in the Subject first, else Reply-To, else From', () => {
  assert.equal(findBugNumber('[Qemu-devel] [Bug 123] Re: x', '9@bugs.launchpad.net', undefined), '123');
  assert.equal(findBugNumber('no number', 'Bug 77 <77@bugs.launchpad.net>', '88@bugs.launchpad.net'), '77');
  assert.equal(findBugNumber(undefined, 'x@example.org', 'Name <88@bugs.launchpad.net>'), '88');
  assert.equal(findBugNumber('[BUG] nothing', 'a@b', 'c@d'), undefined);
  assert.equal(findBugNumber(undefined, '12345x@bugs.launchpad.net', undefined), undefined);
});

test('title and new-bug from the Subject', () => {
  assert.deepEqual(splitSubject('[apparmor] [Bug 1] [NEW] apparmor_parser problem'), { title: 'apparmor_parser problem', isNew: true });
  assert.deepEqual(splitSubject('Re: [Qemu-devel] [Bug 1] Re: Re: crash'), { title: 'crash', isNew: false });
  assert.deepEqual(splitSubject('[Bug 1] Re: [NEW] feature'), { title: '[NEW] feature', isNew: false });
  assert.deepEqual(splitSubject('[Bug 1] Re: [18.04 FEAT] x'), { title: '[18.04 FEAT] x', isNew: false });
  assert.deepEqual(splitSubject('Re: no bug tag'), { title: 'no bug tag', isNew: false });
});

test('X-Launchpad-Bug values: spaces, apostrophes, None, empty pairs, unknown keys, = in values', () => {
  assert.deepEqual(parseBugTask("product=qemu; status=Won't Fix; importance=High; assignee=None; "), {
    product: 'qemu',
    status: "Won't Fix",
    importance: 'High',
    assignee: null,
  });
  assert.deepEqual(parseBugTask(';;distribution=debian;; distrorelease=sid; weird; note=a=b;'), {
    distribution: 'debian',
    distrorelease: 'sid',
    note: 'a=b',
  });
  const t = parseBugTask('__proto__=x; product=p');
  assert.equal(Object.getPrototypeOf(t), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(t, '__proto__')?.value, 'x');
});

test('fan-out: one entry per target in first-appearance order, primary = first task without a series', () => {
  const tasks = [
    { product: 'a', productseries: '1.0', status: 's1' },
    { distribution: 'ubuntu', distroseries: 'noble', status: 's2' },
    { product: 'a', status: 's3' },
    { distribution: 'ubuntu', status: 's4' },
    { product: 'b', productseries: '2.0', status: 's5' },
    { distribution: 'ubuntu', status: 's6' },
  ];
  assert.deepEqual(
    fanout(tasks, 'all').map((e) => [e.target, e.primary?.['status']]),
    [
      ['a', 's3'],
      ['ubuntu', 's4'],
      ['b', 's5'],
    ],
  );
  assert.deepEqual(
    fanout(tasks, 'first').map((e) => [e.target, e.primary?.['status']]),
    [['a', 's1']],
  );
  assert.deepEqual(fanout([], 'all'), [{ target: undefined, primary: undefined }]);
  // product=None falls back to the distribution; a task with neither has no target.
  assert.deepEqual(
    fanout([{ product: null, distribution: 'debian' }, { status: 'x' }], 'all').map((e) => e.target),
    ['debian'],
  );
  assert.deepEqual(fanout([{ status: 'x' }], 'all').map((e) => e.target), [undefined]);
});

test('bug payload: primary task fields, other task keys copied except product, absent headers absent', () => {
  const [e, ...rest] = events(
    bugMail(['X-Launchpad-Bug: product=qemu; milestone=9.0; status=New; importance=Low; assignee=None; custom=yes', 'Reply-To: Bug 42 <42@bugs.launchpad.net>']),
  );
  assert.equal(rest.length, 0);
  assert.equal(e?.topic, 'launchpad/qemu/bug/42');
  const p: Record<string, unknown> = e?.payload ?? {};
  assert.equal(p['project'], 'qemu');
  assert.equal(p['milestone'], '9.0');
  assert.equal(p['custom'], 'yes');
  assert.equal('product' in p, false);
  assert.deepEqual(p['commenters'], []);
  assert.deepEqual(p['tags'], []);
  for (const k of ['bug-reporter', 'bug-modifier', 'information-type', 'private', 'security-vulnerability', 'duplicate-of', 'rationale', 'message-for', 'body-truncated']) {
    assert.equal(k in p, false, k);
  }
  assert.equal(p['new-bug'], false);
  assert.equal(p['title'], 'thing broke');
  assert.equal(p['date'], '2025-03-12T16:45:23.000Z');
  assert.equal(p['body'], 'body\n');
});

test('task keys never override the fields the parser sets', () => {
  const [e] = events(bugMail(['X-Launchpad-Bug: product=qemu; event-type=evil; bug-number=1; body=x; tasks=y; event-id=z; url=u; project=p']));
  const p: Record<string, unknown> = e?.payload ?? {};
  assert.equal(p['event-type'], 'bug');
  assert.equal(p['bug-number'], '42');
  assert.equal(p['body'], 'body\n');
  assert.equal(p['project'], 'qemu');
  assert.equal(p['url'], 'https://bugs.launchpad.net/bugs/42');
  assert.ok(Array.isArray(p['tasks']));
  assert.match(String(p['event-id']), /^[0-9a-f]{32}$/);
  // The tasks array still shows the header as written.
  assert.equal((p['tasks'] as Record<string, unknown>[])[0]?.['event-type'], 'evil');
});

test('event-id: first 32 hex of sha256(message-id \\n project), empty project when none', () => {
  const sha = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 32);
  const [e] = events(bugMail(['X-Launchpad-Bug: product=qemu; status=New']));
  assert.equal(e?.payload['event-id'], sha('m1@launchpad.example\nqemu'));
  const [n] = events(bugMail([]));
  assert.equal(n?.topic, 'launchpad');
  assert.equal(n?.payload['event-id'], sha('m1@launchpad.example\n'));
  assert.equal('project' in (n?.payload ?? {}), false);
});

test('event-id without a Message-Id falls back to a digest of the mail, so distinct mails differ', () => {
  const mk = (b: string): Buffer => Buffer.from(`${GEN}\nX-Launchpad-Notification-Type: bug\nSubject: [Bug 1] x\n\n${b}`);
  const [a] = events(mk('one'));
  const [b] = events(mk('two'));
  assert.notEqual(a?.payload['event-id'], b?.payload['event-id']);
  assert.equal('message-id' in (a?.payload ?? {}), false);
  assert.equal('date' in (a?.payload ?? {}), false);
});

test('yes/no headers become booleans; other values leave the key absent', () => {
  const [e] = events(bugMail(['X-Launchpad-Bug-Private: No', 'X-Launchpad-Bug-Security-Vulnerability: YES']));
  assert.equal(e?.payload['private'], false);
  assert.equal(e?.payload['security-vulnerability'], true);
  const [f] = events(bugMail(['X-Launchpad-Bug-Private: maybe']));
  assert.equal('private' in (f?.payload ?? {}), false);
});

test('private bugs: skipped by default (no events), published with privateBugs publish', () => {
  const raw = bugMail(['X-Launchpad-Bug: product=snapd; status=New', 'X-Launchpad-Bug-Private: yes']);
  const o = parseMail(raw, DEFAULT_PARSE_OPTIONS);
  assert.deepEqual(o, { kind: 'private', info: { messageId: 'm1@launchpad.example', subject: '[Bug 42] Re: thing broke', notificationType: 'bug', bugNumber: '42' } });
  const evs = events(raw, { privateBugs: 'publish' });
  assert.equal(evs[0]?.payload['private'], true);
});

test('options: base topic, fanout first, body limit', () => {
  const raw = bugMail(['X-Launchpad-Bug: product=a; status=New', 'X-Launchpad-Bug: product=b; status=New'], 'é'.repeat(100));
  assert.deepEqual(events(raw, { baseTopic: 'infra/lp' }).map((e) => e.topic), ['infra/lp/a/bug/42', 'infra/lp/b/bug/42']);
  assert.deepEqual(events(raw, { fanout: 'first' }).map((e) => e.topic), ['launchpad/a/bug/42']);
  const [cut] = events(raw, { maxBodyBytes: 11 });
  assert.equal(cut?.payload['body'], 'ééééé');
  assert.equal(cut?.payload['body-truncated'], true);
});

test('topic levels are escaped, so a project with + or / cannot change the topic shape', () => {
  const [e] = events(bugMail(['X-Launchpad-Bug: product=libstdc++; status=New']));
  assert.equal(e?.topic, 'launchpad/libstdc%2B%2B/bug/42');
  assert.equal(e?.payload.project, 'libstdc++');
  const [f] = events(bugMail(['X-Launchpad-Bug: product=a/b#; status=New']));
  assert.equal(f?.topic, 'launchpad/a%2Fb%23/bug/42');
});

test('other notification types: X-Launchpad-* headers as keys, repeated → array, project derivation', () => {
  const raw = Buffer.from(
    [
      GEN,
      'Message-Id: <m2@x>',
      'Subject: build failed',
      'X-Launchpad-Notification-Type: package-build-status',
      'X-Launchpad-Archive: ~team/ubuntu/ppa',
      'X-Launchpad-Subscription: one',
      'X-Launchpad-Subscription: two',
      'X-Launchpad-Body: must not replace the body',
      'X-Launchpad-: empty name is skipped',
      '',
      'text',
    ].join('\n'),
  );
  const [e] = events(raw);
  assert.equal(e?.topic, 'launchpad/ubuntu/package-build-status');
  assert.deepEqual(e?.payload['subscription'], ['one', 'two']);
  assert.equal(e?.payload['archive'], '~team/ubuntu/ppa');
  assert.equal(e?.payload['body'], 'text');
  assert.equal(e?.payload['notification-type'], 'package-build-status');
  assert.equal('' in (e?.payload ?? {}), false);
  assert.equal('bug-number' in (e?.payload ?? {}), false);
});

test('project derivation for other types: Project, else Branch, else Archive/PPA distribution', () => {
  assert.equal(projectFromBranch('~owner/proj/+git/repo:main'), 'proj');
  assert.equal(projectFromBranch('~owner/proj/trunk'), 'proj');
  assert.equal(projectFromBranch('lp:~owner/proj/trunk'), 'proj');
  assert.equal(projectFromBranch('~owner/+git/personal'), undefined);
  assert.equal(projectFromBranch('proj'), undefined);
  assert.equal(distroFromArchive('~owner/ubuntu/ppa', true), 'ubuntu');
  assert.equal(distroFromArchive('ubuntu', true), 'ubuntu');
  assert.equal(distroFromArchive('owner-ppa-name', false), undefined);
  assert.equal(distroFromArchive('~owner/debian/ppa', false), 'debian');
  const h = (s: string) => readHeaders(Buffer.from(`${s}\n\n`)).headers;
  assert.equal(deriveProject(h('X-Launchpad-Project: p\nX-Launchpad-Branch: ~o/q/b')), 'p');
  assert.equal(deriveProject(h('X-Launchpad-Branch: ~o/q/b\nX-Launchpad-Archive: ~o/ubuntu/x')), 'q');
  assert.equal(deriveProject(h('X-Launchpad-PPA: ~o/debian/x')), 'debian');
  assert.equal(deriveProject(h('X-Launchpad-PPA: plain-name')), undefined);
});

test('a Launchpad mail without a notification type is "unknown"', () => {
  const [e] = events(Buffer.from(`${GEN}\nSubject: s\n\nb`));
  assert.equal(e?.payload['event-type'], 'unknown');
  assert.equal(e?.topic, 'launchpad');
});

test('parseMail never mutates its input', () => {
  const raw = bugMail(['X-Launchpad-Bug: product=qemu; status=New']);
  const copy = Buffer.from(raw);
  parseMail(raw, DEFAULT_PARSE_OPTIONS);
  assert.ok(raw.equals(copy));
});
