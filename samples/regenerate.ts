/**
 * Write samples/NAME.json from samples/NAME.eml with the default parse
 * options. Run only after reviewing the output against SPEC §2–§4 (see
 * samples/README.md); the goldens are the contract, not a snapshot.
 *
 *   node --import tsx samples/regenerate.ts [NAME...]
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_PARSE_OPTIONS, parseMail } from '../src/core/index.js';

const dir = fileURLToPath(new URL('./', import.meta.url));
const wanted = process.argv.slice(2);
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.eml'))
  .map((f) => f.slice(0, -4))
  .filter((n) => wanted.length === 0 || wanted.includes(n));
for (const name of names) {
  const outcome = parseMail(readFileSync(`${dir}${name}.eml`), DEFAULT_PARSE_OPTIONS);
  const events = outcome.kind === 'events' ? outcome.events : [];
  writeFileSync(`${dir}${name}.json`, `${JSON.stringify(events, null, 2)}\n`);
  console.log(`${name}: ${outcome.kind}${'reason' in outcome ? ` (${outcome.reason})` : ''}, ${events.length} event(s)`);
}
