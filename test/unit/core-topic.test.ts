import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildTopic, escapeTopicLevel } from '../../src/core/index.js';

test('plain Launchpad names pass unchanged', () => {
  for (const s of ['qemu', 'cloud-init', 'ubuntu', 'qemu-kvm', 'python3.12', 'bug', '2072564', 'Märdian', '計数器', '🐛']) {
    assert.equal(escapeTopicLevel(s), s);
  }
});

test('separators and wildcards are escaped: % / + #', () => {
  assert.equal(escapeTopicLevel('libstdc++'), 'libstdc%2B%2B');
  assert.equal(escapeTopicLevel('a/b'), 'a%2Fb');
  assert.equal(escapeTopicLevel('#'), '%23');
  assert.equal(escapeTopicLevel('100%'), '100%25');
  assert.equal(escapeTopicLevel('%2B'), '%252B', 'an already escaped-looking value stays distinct');
});

test('control characters become %XX: NUL, C0, DEL and C1 (as UTF-8 bytes)', () => {
  assert.equal(escapeTopicLevel('a\u0000b'), 'a%00b');
  assert.equal(escapeTopicLevel('\t\n\r\u001f'), '%09%0A%0D%1F');
  assert.equal(escapeTopicLevel('\u007f'), '%7F');
  assert.equal(escapeTopicLevel('\u0085\u009f'), '%C2%85%C2%9F');
});

test('characters MQTT forbids or brokers reject: lone surrogates and non-characters', () => {
  assert.equal(escapeTopicLevel('\ud800'), '%ED%A0%80');
  assert.equal(escapeTopicLevel('x\udc00'), 'x%ED%B0%80');
  assert.equal(escapeTopicLevel('\ufffe\uffff'), '%EF%BF%BE%EF%BF%BF');
  assert.equal(escapeTopicLevel('\ufdd0'), '%EF%B7%90');
  assert.equal(escapeTopicLevel('\u{1fffe}'), '%F0%9F%BF%BE');
  assert.equal(escapeTopicLevel('\u{1f41b}'), '\u{1f41b}', 'a valid surrogate pair stays');
});

test('buildTopic fills levels left to right and stops at the first missing one', () => {
  assert.equal(buildTopic('launchpad', ['qemu', 'bug', '123']), 'launchpad/qemu/bug/123');
  assert.equal(buildTopic('launchpad', ['qemu', 'bug', undefined]), 'launchpad/qemu/bug');
  assert.equal(buildTopic('launchpad', [undefined, 'bug', '123']), 'launchpad');
  assert.equal(buildTopic('launchpad', ['qemu', '', '123']), 'launchpad/qemu', 'empty counts as missing');
  assert.equal(buildTopic('launchpad', []), 'launchpad');
});

test('the base topic is configuration and used as written; levels are escaped', () => {
  assert.equal(buildTopic('infra/launchpad', ['libsigc++', 'bug', '1']), 'infra/launchpad/libsigc%2B%2B/bug/1');
  assert.equal(buildTopic('lp', ['a/b#c']), 'lp/a%2Fb%23c');
});
