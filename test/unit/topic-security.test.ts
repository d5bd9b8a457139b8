/**
 * Hostile names cannot reshape topics (SPEC §4, issue #5): whatever a mail
 * puts in a product, distribution, project or notification type, the topic
 * keeps its levels, carries no wildcard and no control character, and a
 * subscriber to `launchpad/<escaped name>/#` gets exactly that name's events.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildTopic, escapeTopicLevel, parseMail, DEFAULT_PARSE_OPTIONS, type LpEvent } from '../../src/core/index.js';

/** MQTT 5.0 §4.7 topic filter matching. */
function matches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '#' || f[0] === '+')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Every property a published topic name must have (MQTT 5.0 §4.7.3, §1.5.4). */
function assertSafeTopic(topic: string, levels: number, what: string): void {
  assert.equal(topic.split('/').length, levels, `${what}: ${levels} levels in ${JSON.stringify(topic.slice(0, 200))}`);
  assert.doesNotMatch(topic, /[+#]/, `${what}: no wildcard`);
  assert.doesNotMatch(topic, /[\u0000-\u001f\u007f-\u009f]/, `${what}: no control character`);
  assert.ok(topic.startsWith('launchpad/'), `${what}: under the base topic`);
  assert.ok(Buffer.byteLength(topic, 'utf8') <= 65535, `${what}: fits an MQTT topic`);
  assert.equal(Buffer.from(topic, 'utf8').toString('utf8'), topic, `${what}: well-formed UTF-8`);
}

const b64 = (s: string): string => `=?utf-8?b?${Buffer.from(s, 'utf8').toString('base64')}?=`;

function bugMail(bugHeaders: string[], bug = '7'): Buffer {
  return Buffer.from(
    [
      'From: Jane <' + bug + '@bugs.launchpad.net>',
      `Subject: [Bug ${bug}] hostile names`,
      'Message-Id: <hostile@example.org>',
      'X-Generated-By: Launchpad (canonical.com)',
      'X-Launchpad-Notification-Type: bug',
      ...bugHeaders.map((h) => `X-Launchpad-Bug: ${h}`),
      '',
      'body',
    ].join('\r\n'),
    'latin1',
  );
}

function events(raw: Buffer): LpEvent[] {
  const out = parseMail(raw, DEFAULT_PARSE_OPTIONS);
  assert.equal(out.kind, 'events', JSON.stringify(out).slice(0, 300));
  return out.kind === 'events' ? out.events : [];
}

// Names a sender controls once X-Launchpad-* headers are forged (they are unsigned).
const HOSTILE: Array<[string, string]> = [
  ['plus', 'libstdc++'],
  ['hash', 'a#b'],
  ['slash', 'qemu/bug/999'],
  ['wildcards only', '+/#'],
  ['dollar', '$SYS'],
  ['dollar level', '$share/group'],
  ['percent', '100%2Fsure'],
  ['NUL', 'a\u0000b'],
  ['CR LF', 'a\r\nb'],
  ['DEL and C1', 'a\u007f\u0085b'],
  ['2,000 plus signs', '+'.repeat(2000)],
  ['2,000 characters', 'x'.repeat(2000)],
  ['2,000 mixed', '/#+\u0000$%'.repeat(334).slice(0, 2000)],
];

describe('topics built from hostile names', () => {
  for (const [what, name] of HOSTILE) {
    test(`product name with ${what}: 4 levels, no wildcard, no control character`, () => {
      // RFC 2047 lets a header carry any byte, so the name arrives intact
      const evs = events(bugMail([`product=${b64(name)}; status=New; importance=High`]));
      assert.equal(evs.length, 1);
      const ev = evs[0] as LpEvent;
      assertSafeTopic(ev.topic, 4, what);
      assert.equal(ev.topic, `launchpad/${escapeTopicLevel(name)}/bug/7`);
      assert.equal(ev.payload.project, name, 'the payload keeps the name as it was');
      assert.ok(matches(`launchpad/${escapeTopicLevel(name)}/#`, ev.topic));
      assert.ok(matches('launchpad/+/bug/+', ev.topic));
    });
  }

  test('distribution names and fan-out: every target its own safe topic', () => {
    const names = HOSTILE.map(([, n]) => n);
    const evs = events(bugMail(names.map((n, i) => (i % 2 ? `distribution=${b64(n)}; sourcepackage=x` : `product=${b64(n)}`))));
    assert.equal(evs.length, names.length, 'one event per distinct target');
    evs.forEach((ev, i) => assertSafeTopic(ev.topic, 4, `target ${i}`));
    assert.equal(new Set(evs.map((e) => e.topic)).size, evs.length, 'distinct names, distinct topics');
  });

  test('raw (unencoded) NUL and 8-bit bytes in the header are escaped too', () => {
    const raw = Buffer.concat([
      bugMail([]).subarray(0, bugMail([]).indexOf('\r\n\r\n')),
      Buffer.from('\r\nX-Launchpad-Bug: product=a\u0000/\u00ff#; status=New\r\n\r\nbody', 'latin1'),
    ]);
    const evs = events(raw);
    assert.equal(evs.length, 1);
    assertSafeTopic((evs[0] as LpEvent).topic, 4, 'raw bytes');
  });

  test("a subscriber to one name's topic never gets another name's events", () => {
    const pairs: Array<[string, string]> = [
      ['a', 'a/b'],
      ['a/b', 'a%2Fb'],
      ['qemu', 'qemu/bug/1'],
      ['x', 'x#'],
      ['x', 'x+'],
    ];
    for (const [mine, theirs] of pairs) {
      const [ev] = events(bugMail([`product=${b64(theirs)}`]));
      assert.ok(ev);
      assert.equal(matches(`launchpad/${escapeTopicLevel(mine)}/#`, ev.topic), false, `${mine} vs ${theirs}`);
    }
  });

  test('a forged bug number cannot add levels (only digits are taken)', () => {
    const evs = events(bugMail(['product=qemu'], '1/2/#'));
    assert.equal(evs.length, 1);
    for (const ev of evs) {
      assert.ok(ev.topic.split('/').length <= 4);
      assert.doesNotMatch(ev.topic, /[+#]/);
    }
  });

  test('non-bug notifications: hostile project and notification type stay one level each', () => {
    const raw = Buffer.from(
      [
        'From: noreply@launchpad.net',
        'Subject: hostile',
        'Message-Id: <other@example.org>',
        'X-Generated-By: Launchpad (canonical.com)',
        `X-Launchpad-Notification-Type: ${b64('code-review/#/+\u0000')}`,
        `X-Launchpad-Project: ${b64('p/+/#\u0000' + 'y'.repeat(2000))}`,
        '',
        'body',
      ].join('\r\n'),
      'latin1',
    );
    const [ev] = events(raw);
    assert.ok(ev);
    assertSafeTopic(ev.topic, 3, 'other type');
  });
});

describe('escapeTopicLevel', () => {
  test('any string becomes one level without wildcard or control character, and decodes back', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
        const level = escapeTopicLevel(s);
        assert.doesNotMatch(level, /[/+#\u0000-\u001f\u007f-\u009f]/);
        assert.equal(decodeURIComponent(level), s);
      }),
      { numRuns: 2000 },
    );
  });

  test('buildTopic never yields more levels than it was given', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 50 }), { maxLength: 4 }), (levels) => {
        const topic = buildTopic('launchpad', levels);
        assert.ok(topic.split('/').length <= 1 + levels.length);
        assert.doesNotMatch(topic, /[+#\u0000]/);
      }),
    );
  });
});
