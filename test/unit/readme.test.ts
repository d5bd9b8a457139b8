/**
 * The README must stay true: every config key of the schema is documented
 * with its real default, and the event examples are what the parser makes of
 * the samples.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { configSchema, imapSchema, logSchema, metricsSchema, mqttSchema, parseSchema, verifySchema } from '../../src/config/schema.js';
import { formatEvent } from '../../src/commands/watch.js';
import { DEFAULT_PARSE_OPTIONS, parseMail } from '../../src/core/index.js';
import type { LpEvent } from '../../src/core/types.js';

const ROOT = join(import.meta.dirname, '../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const SAMPLES = join(ROOT, 'samples');

function sampleEvents(name: string): LpEvent[] {
  const out = parseMail(readFileSync(join(SAMPLES, name)), DEFAULT_PARSE_OPTIONS);
  return out.kind === 'events' ? out.events : [];
}

/** `| \`imap.host\` | \`127.0.0.1\` | …` → key → default cell (`a / b` rows give both keys). */
function configRows(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of README.split('\n')) {
    const m = /^\| (`[a-z_]+\.[a-z_]+`(?: \/ `[a-z_]+\.[a-z_]+`)*) \| ([^|]*) \|/.exec(line);
    if (!m) continue;
    for (const key of (m[1] ?? '').split(' / ')) rows.set(key.replace(/`/g, ''), (m[2] ?? '').trim());
  }
  return rows;
}

test('README documents every config key with its default from the schema', () => {
  const rows = configRows();
  const sections = { imap: imapSchema, mqtt: mqttSchema, parse: parseSchema, verify: verifySchema, log: logSchema, metrics: metricsSchema };
  const defaults = configSchema.parse({}) as unknown as Record<string, Record<string, unknown>>;
  const keys: string[] = [];
  for (const [section, schema] of Object.entries(sections)) {
    for (const key of Object.keys(schema.shape)) keys.push(`${section}.${key}`);
  }
  assert.deepEqual([...rows.keys()].sort(), keys.sort(), 'README config table keys = schema keys');
  for (const key of keys) {
    const [section, name] = key.split('.') as [string, string];
    const value = defaults[section]?.[name];
    const cell = rows.get(key) ?? '';
    if (value === undefined) {
      assert.doesNotMatch(cell, /^`[^`]*`$/, `${key} has no schema default, README shows one: ${cell}`);
    } else {
      const shown = value === null ? 'null' : String(value);
      assert.ok(cell.startsWith(`\`${shown}\``), `${key}: README default ${cell}, schema ${shown}`);
    }
  }
  assert.equal(rows.get('imap.port'), '`993` with `tls: true`, else `143`');
});

test('README JSON examples are the parser output for the samples', () => {
  const blocks = [...README.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1] ?? '') as Record<string, unknown>);
  const payloads = blocks.filter((b) => 'event-type' in b);
  assert.equal(payloads.length, 2);
  const all = readdirSync(SAMPLES).filter((n) => n.endsWith('.eml')).flatMap(sampleEvents);
  for (const p of payloads) {
    const match = all.find((e) => e.payload['event-id'] === p['event-id']);
    assert.ok(match, `no sample event with event-id ${String(p['event-id'])}`);
    assert.deepEqual(p, JSON.parse(JSON.stringify(match.payload)));
  }
});

test('README topics and watch lines are real', () => {
  const topics = readdirSync(SAMPLES).filter((n) => n.endsWith('.eml')).flatMap(sampleEvents);
  const lines = new Set(topics.map((e) => formatEvent(e.topic, e.payload)));
  const shown = /```\n(widgetd #2100001[\s\S]*?)\n\.\.\.\n/.exec(README)?.[1]?.split('\n') ?? [];
  assert.ok(shown.length >= 5);
  for (const l of shown) assert.ok(lines.has(l), `not a line lpmqtt watch prints for the samples: ${l}`);

  const fanout = sampleEvents('several-targets.eml').map((e) => `${e.topic} ${String(e.payload.status)} ${String(e.payload.importance)}`);
  const block = /```\n(launchpad\/shoal\/[\s\S]*?)```/.exec(README)?.[1] ?? '';
  assert.deepEqual(block.trim().split('\n').map((l) => l.replace(/\s+/g, ' ').trim()), fanout);
  assert.deepEqual(sampleEvents('plus-in-name.eml')[0]?.topic, 'launchpad/libsigc%2B%2B/bug/2100012');
  assert.match(README, /^launchpad\/libsigc%2B%2B\/bug\/2100012 {7}project "libsigc\+\+"$/m);
});
