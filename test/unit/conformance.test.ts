/**
 * Conformance against real archived Launchpad mails (../shared/launchpad-mails,
 * read in place, never copied). Expected values were read off the raw files
 * and the README there.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DEFAULT_PARSE_OPTIONS, type LpEvent, type ParseOptions, type ParseOutcome, parseMail } from '../../src/core/index.js';

const dir = new URL('../../../shared/launchpad-mails/', import.meta.url);
const load = (f: string): Buffer => readFileSync(new URL(f, dir));
const parse = (f: string, opts: Partial<ParseOptions> = {}): ParseOutcome => parseMail(load(f), { ...DEFAULT_PARSE_OPTIONS, ...opts });

function events(f: string, opts: Partial<ParseOptions> = {}): LpEvent[] {
  const o = parse(f, opts);
  assert.equal(o.kind, 'events', `${f}: ${'reason' in o ? o.reason : o.kind}`);
  return o.kind === 'events' ? o.events : [];
}

const BUGS: Record<string, { bug: string; targets: string[] }> = {
  '001.eml': { bug: '2072564', targets: ['qemu', 'ubuntu'] },
  '006.eml': { bug: '1880822', targets: ['qemu'] },
  '009.eml': { bug: '1770417', targets: ['qemu', 'ubuntu'] },
  '010.eml': { bug: '1851552', targets: ['cloud-init', 'networking-calico', 'nova', 'openstack-community', 'qemu', 'qemu-kvm', 'ubuntu'] },
  '013.eml': { bug: '1863710', targets: ['qemu'] },
  '016.eml': { bug: '1842916', targets: ['ubuntu-z-systems', 'ubuntu'] },
  '020.eml': { bug: '1575561', targets: ['qemu'] },
  '033.eml': { bug: '1842530', targets: ['qemu'] },
  '035.eml': { bug: '1859361', targets: ['apparmor', 'apparmor-profiles'] },
  '053.eml': { bug: '1894869', targets: ['qemu', 'debian'] },
  '061.eml': { bug: '1815889', targets: ['mesa', 'qemu', 'ubuntu'] },
};
const FOREIGN = ['023.eml', '028.eml', '047.eml'];
const OTHER: Record<string, { type: string; project: string }> = {
  '002.eml': { type: 'code-review', project: 'apparmor-profiles' },
  '004.eml': { type: 'package-build-status', project: 'ubuntu' },
  '031.eml': { type: 'recipe-build-status', project: 'ubuntu' },
};

test('every real mail in the folder is covered by this test', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.eml'));
  const covered = new Set([...Object.keys(BUGS), ...FOREIGN, ...Object.keys(OTHER), '014.eml']);
  for (const f of files) assert.ok(covered.has(f), `${f} has no expectation here`);
});

for (const [file, want] of Object.entries(BUGS)) {
  test(`${file}: one bug event per target, in order, with bug ${want.bug}`, () => {
    const evs = events(file);
    assert.deepEqual(evs.map((e) => e.payload.project), want.targets);
    for (const e of evs) {
      assert.equal(e.payload['bug-number'], want.bug);
      assert.equal(e.payload['event-type'], 'bug');
      assert.equal(e.topic, `launchpad/${e.payload.project}/bug/${want.bug}`);
      assert.equal(e.payload['url'], `https://bugs.launchpad.net/bugs/${want.bug}`);
      assert.match(String(e.payload['event-id']), /^[0-9a-f]{32}$/);
    }
    assert.equal(new Set(evs.map((e) => e.payload['event-id'])).size, evs.length, 'event-ids differ per target');
  });
}

for (const file of FOREIGN) {
  test(`${file} is not a Launchpad notification`, () => {
    const o = parse(file);
    assert.equal(o.kind, 'foreign');
  });
}

for (const [file, want] of Object.entries(OTHER)) {
  test(`${file}: ${want.type} event for project ${want.project}`, () => {
    const [e, ...rest] = events(file);
    assert.equal(rest.length, 0);
    assert.ok(e);
    assert.equal(e.topic, `launchpad/${want.project}/${want.type}`);
    assert.equal(e.payload['event-type'], want.type);
    assert.equal(e.payload.project, want.project);
    assert.equal(e.payload['notification-type'], want.type);
  });
}

test('001: RFC 2047 modifier decoded, primary Ubuntu task is the one without a series', () => {
  const [qemu, ubuntu] = events('001.eml');
  assert.equal(qemu?.payload['bug-modifier'], 'Lukas Märdian (slyon)');
  assert.equal(qemu?.payload['status'], 'Fix Released');
  assert.equal(qemu?.payload['importance'], 'Unknown');
  assert.equal(qemu?.payload['assignee'], null);
  assert.equal(ubuntu?.payload['status'], 'Fix Released');
  assert.equal(ubuntu?.payload['importance'], 'Undecided');
  assert.equal(ubuntu?.payload['assignee'], 'lukas.maerdian@canonical.com');
  assert.equal(ubuntu?.payload['sourcepackage'], 'qemu');
  assert.equal(ubuntu?.payload['distroseries'], undefined);
  assert.equal((ubuntu?.payload['tasks'] as unknown[]).length, 4);
  assert.deepEqual(qemu?.payload['commenters'], ['crichton', 'dimitry.unified-streaming.com', 'janitor', 'michal.fita', 'paelzer', 'sergiodj', 'thir820']);
  assert.equal(qemu?.payload['title'], 'qemu-aarch64-static segfaults running ldconfig.real (amd64 host)');
  assert.equal(qemu?.payload['date'], '2025-03-12T16:45:23.000Z');
  assert.equal(qemu?.payload['message-id'], '174179792605.1191754.5109307186334923964.launchpad@juju-98d295-prod-launchpad-2');
  assert.match(String(qemu?.payload['body']), /^\*\* Changed in: qemu \(Ubuntu Noble\)\n {7}Status: Triaged => In Progress\n/);
  assert.match(String(qemu?.payload['body']), /Lukas Märdian \(slyon\)/);
});

test('006: modifier split across two encoded-words, security flags', () => {
  const [e] = events('006.eml');
  assert.equal(e?.payload['bug-modifier'], 'Philippe Mathieu-Daudé (philmd)');
  assert.equal(e?.payload['security-vulnerability'], true);
  assert.equal(e?.payload['private'], false);
  assert.equal(e?.payload['information-type'], 'Public Security');
  assert.deepEqual(e?.payload['tags'], ['cve', 'qemu', 'security']);
  assert.equal(e?.payload['subject'], '[Bug 1880822] Re: CVE-2020-13253 QEMU: sd: OOB access could crash the guest resulting in DoS');
});

test('010: seven targets; fanout first publishes only the first task', () => {
  const first = events('010.eml', { fanout: 'first' });
  assert.equal(first.length, 1);
  assert.equal(first[0]?.payload.project, 'cloud-init');
  assert.equal((first[0]?.payload['tasks'] as unknown[]).length, 7);
  const all = events('010.eml');
  assert.equal(all[6]?.payload['status'], 'Confirmed');
  assert.equal(all[6]?.payload['sourcepackage'], 'cloud-init');
  // The Subject ends in a space in the mail; decoded values are trimmed.
  assert.equal(all[0]?.payload['title'], 'since ubuntu 18 bionic release and latest, the ubuntu18 cloud image is unable to boot up on openstack instance');
});

test('013: [NEW] bug report', () => {
  const [e] = events('013.eml');
  assert.equal(e?.payload['new-bug'], true);
  assert.equal(e?.payload['title'], 'qemu 4.2 does not process discard(trim) commands');
  assert.match(String(e?.payload['body']), /^Public bug reported:\n/);
});

test('014: private bug is set aside by default and published with privateBugs: publish', () => {
  const o = parse('014.eml');
  assert.equal(o.kind, 'private');
  assert.equal(o.info.bugNumber, '2025030');
  const [e, ...rest] = events('014.eml', { privateBugs: 'publish' });
  assert.equal(rest.length, 0);
  assert.equal(e?.topic, 'launchpad/snapd/bug/2025030');
  assert.equal(e?.payload['private'], true);
  assert.equal(e?.payload['information-type'], 'Private');
  assert.equal(e?.payload['new-bug'], true);
  assert.equal('bug-modifier' in (e?.payload ?? {}), false, 'no Modifier header → no key');
  // List prefix, and a Subject folded with a TAB.
  assert.equal(e?.payload['subject'], '[apparmor] [Bug 2025030] [NEW] apparmor_parser -O no-expr-simplify problematic');
  assert.equal(e?.payload['title'], 'apparmor_parser -O no-expr-simplify problematic');
});

test('016: duplicate, folded tags, team assignee, bracketed title kept', () => {
  const [z, ubuntu] = events('016.eml');
  assert.equal(z?.payload['duplicate-of'], '1842774');
  assert.deepEqual(z?.payload['tags'], ['architecture-s39064', 'bugnameltc-181316', 'severity-high', 'targetmilestone-inin1804']);
  assert.equal(ubuntu?.payload['assignee'], 'skipper-screen-team');
  assert.equal(z?.payload['title'], '[18.04 FEAT] Enhanced Hardware Support - Finalize Naming');
});

test('020: RFC 2047 q Subject with a fullwidth comma', () => {
  const [e] = events('020.eml');
  assert.equal(e?.payload['subject'], '[Bug 1575561] Re: config qemu virtio_queue_size to 1024，create vm boot from network failed');
  assert.equal(e?.payload['bug-modifier'], 'Launchpad Janitor (janitor)');
});

test('033: Subject mixing q and b encoded-words', () => {
  const [e] = events('033.eml');
  assert.equal(e?.payload['subject'], '[Bug 1842530] Re: ich6 and ich9 sound card has noisy（murmur）');
  assert.equal(e?.payload['status'], 'Incomplete');
});

test('035: base64 body decoded, duplicate-of set', () => {
  const [e] = events('035.eml');
  assert.match(String(e?.payload['body']), /^\*\*\* This bug is a duplicate of bug 1777070 \*\*\*\n/);
  assert.equal(e?.payload['duplicate-of'], '1777070');
  assert.equal(e?.payload['title'], 'Firefox profile causes widevine DRM to crash');
});

test('053: sourcepackage=None and component=None become null', () => {
  const [, debian] = events('053.eml');
  assert.equal(debian?.payload['sourcepackage'], null);
  assert.equal(debian?.payload['component'], null);
  assert.equal(debian?.payload['importance'], 'Unknown');
  assert.equal(debian?.payload['bug-modifier'], 'Bug Watch Updater (bug-watch-updater)');
});

test('061: TAB-folded headers, milestone on the distribution task', () => {
  const [mesa, , ubuntu] = events('061.eml');
  assert.equal(mesa?.payload['status'], "Won't Fix");
  assert.equal(ubuntu?.payload['milestone'], 'ubuntu-19.04');
  assert.equal(ubuntu?.payload['sourcepackage'], 'mesa');
  assert.equal(ubuntu?.payload['assignee'], 'tjaalton@ubuntu.com');
  assert.equal((mesa?.payload['commenters'] as unknown[]).length, 15);
  assert.deepEqual(mesa?.payload['tags'], ['amd64', 'apport-crash', 'apport-failed-retrace', 'disco', 'qemu-19.10', 'wayland-session']);
  assert.equal(mesa?.payload['subject'], '[Qemu-devel] [Bug 1815889] Re: qemu-system-x86_64 crashed with signal 31 in __pthread_setaffinity_new()');
});

test('002: multipart code review: body is the first text/plain part, not the diff or the footer', () => {
  const [e] = events('002.eml');
  const body = String(e?.payload['body']);
  assert.match(body, /^Simon Déziel has proposed merging ~sdeziel\/apparmor-profiles\/\+git\/apparmor-profiles:apt-cacher-ng/);
  assert.doesNotMatch(body, /diff --git/);
  assert.doesNotMatch(body, /mailing list/);
  assert.equal(e?.payload['branch'], '~sdeziel/apparmor-profiles/+git/apparmor-profiles:apt-cacher-ng');
});

test('004: build headers become payload keys', () => {
  const [e] = events('004.eml');
  assert.equal(e?.payload['build-state'], 'FAILEDTOUPLOAD');
  assert.equal(e?.payload['build-arch'], 's390x');
  assert.equal(e?.payload['archive'], '~linux-rdma/ubuntu/rdma-core-daily');
  assert.equal(e?.payload['ppa'], 'linux-rdma-rdma-core-daily');
  assert.equal(e?.payload['date'], '2022-06-08T19:08:54.000Z');
});

test('foreign mails still report their Message-Id and Subject for the logs', () => {
  const o = parse('028.eml');
  assert.equal(o.info.messageId, '874l56c278.fsf@zen.linaroharston');
  assert.equal(o.info.subject, 'Re: [Qemu-devel] [Bug 1830872] Re: AARCH64 to ARMv7 mistranslation in TCG');
  const o23 = parse('023.eml');
  assert.equal(o23.info.subject, '[BUG] Data Bus Erorr on Ubiquiti Networks - EdgeRouter™ Infinity');
});

test('the same mail with CRLF line endings gives the same events', () => {
  for (const f of ['001.eml', '002.eml', '035.eml', '061.eml']) {
    const lf = load(f);
    const crlf = Buffer.from(lf.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
    const a = parseMail(lf, DEFAULT_PARSE_OPTIONS);
    const b = parseMail(crlf, DEFAULT_PARSE_OPTIONS);
    assert.deepEqual(b, a, f);
  }
});
