/**
 * Every samples/NAME.eml produces exactly the events in samples/NAME.json
 * (default options). See samples/README.md for what each sample covers.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DEFAULT_PARSE_OPTIONS, parseMail } from '../../src/core/index.js';

const dir = new URL('../../samples/', import.meta.url);
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.eml'))
  .map((f) => f.slice(0, -4))
  .sort();

/** Samples that must not produce events, and the outcome they must produce instead. */
const NO_EVENTS: Record<string, 'private' | 'foreign'> = { private: 'private', foreign: 'foreign' };

test('the samples folder holds at least 15 mails, each with a golden', () => {
  assert.ok(names.length >= 15, `only ${names.length} samples`);
  const jsons = new Set(readdirSync(dir).filter((f) => f.endsWith('.json')));
  for (const n of names) assert.ok(jsons.has(`${n}.json`), `samples/${n}.json is missing`);
});

for (const name of names) {
  test(`samples/${name}.eml matches its golden`, () => {
    const raw = readFileSync(new URL(`${name}.eml`, dir));
    const golden: unknown = JSON.parse(readFileSync(new URL(`${name}.json`, dir), 'utf8'));
    const outcome = parseMail(raw, DEFAULT_PARSE_OPTIONS);
    const expectedKind = NO_EVENTS[name] ?? 'events';
    assert.equal(outcome.kind, expectedKind, `${name}: ${'reason' in outcome ? outcome.reason : ''}`);
    const events = outcome.kind === 'events' ? outcome.events : [];
    // Through JSON, as a consumer sees it: key order and absent keys both count.
    assert.equal(JSON.stringify(events), JSON.stringify(golden), `samples/${name}.json differs`);
    assert.deepEqual(JSON.parse(JSON.stringify(events)), golden);
  });
}
