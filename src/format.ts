/**
 * Human output of `lpmqtt parse FILE`: for each event its topic, the key
 * fields aligned, then a preview of the body. Pure string building.
 */
import type { Json, LpEvent, ParseOutcome } from './core/types.js';

/** Fields shown first, in this order, when present; the rest follow alphabetically. */
const KEY_FIELDS = [
  'event-type',
  'project',
  'bug-number',
  'title',
  'subject',
  'status',
  'importance',
  'assignee',
  'new-bug',
  'private',
  'security-vulnerability',
  'information-type',
  'duplicate-of',
  'bug-reporter',
  'bug-modifier',
  'commenters',
  'tags',
  'date',
  'url',
  'message-id',
  'event-id',
];
/** Shown elsewhere (body) or too bulky for the field list. */
const HIDDEN = new Set(['body', 'tasks']);
const BODY_PREVIEW_LINES = 12;

export interface FormatOptions {
  /** ANSI colours (only on a TTY). */
  color?: boolean;
  /** Show every payload field, not only the key ones (default true). */
  all?: boolean;
}

/** The whole human report for one mail. */
export function formatOutcome(source: string, outcome: ParseOutcome, opts: FormatOptions = {}): string {
  const c = colors(opts.color === true);
  const lines: string[] = [];
  const subject = outcome.info.subject === undefined ? '' : ` (${safe(JSON.stringify(outcome.info.subject))})`;
  switch (outcome.kind) {
    case 'foreign':
      lines.push(`${c.yellow('not a Launchpad notification')}: ${source}${subject}`, `  ${outcome.reason}`, '  nothing would be published.');
      break;
    case 'private':
      lines.push(
        `${c.yellow('private bug mail')}: ${source}${subject}`,
        `  X-Launchpad-Bug-Private: yes; with parse.private_bugs: skip nothing is published.`,
      );
      break;
    case 'invalid':
      lines.push(`${c.red('invalid mail')}: ${source}${subject}`, `  ${outcome.reason}`);
      break;
    case 'events': {
      const n = outcome.events.length;
      lines.push(`${source}: ${n} event${n === 1 ? '' : 's'}`);
      outcome.events.forEach((e, i) => {
        lines.push('', ...formatEvent(e, i + 1, n, opts, c));
      });
      const body = outcome.events[0]?.payload['body'];
      if (typeof body === 'string') lines.push('', ...formatBody(body, outcome.events[0]?.payload['body-truncated'] === true, c));
      break;
    }
  }
  return `${lines.join('\n')}\n`;
}

function formatEvent(e: LpEvent, i: number, n: number, opts: FormatOptions, c: Colors): string[] {
  const lines = [`${c.bold(n > 1 ? `[${i}/${n}] ${e.topic}` : e.topic)}`];
  const keys = Object.keys(e.payload).filter((k) => !HIDDEN.has(k) && e.payload[k] !== undefined);
  const first = KEY_FIELDS.filter((k) => keys.includes(k));
  const rest = opts.all === false ? [] : keys.filter((k) => !KEY_FIELDS.includes(k)).sort();
  const shown = [...first, ...rest];
  const width = Math.max(0, ...shown.map((k) => k.length)) + 1;
  for (const k of shown) lines.push(`  ${c.dim(`${k}:`.padEnd(width))} ${showValue(e.payload[k] as Json)}`);
  const tasks = e.payload['tasks'];
  if (Array.isArray(tasks) && tasks.length > 0) {
    lines.push(`  ${c.dim('tasks:'.padEnd(width))} ${tasks.length}`);
    for (const t of tasks) lines.push(`    - ${taskLine(t)}`);
  }
  return lines;
}

function taskLine(t: Json): string {
  if (t === null || typeof t !== 'object' || Array.isArray(t)) return showValue(t);
  return Object.entries(t)
    .map(([k, v]) => safe(`${k}=${v === null ? 'None' : String(v)}`))
    .join('; ');
}

function showValue(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length === 0 ? '(none)' : safe(v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(', '));
  if (typeof v === 'object') return safe(JSON.stringify(v));
  if (typeof v === 'string') return oneLine(v);
  return String(v);
}

/**
 * Mail text goes to a terminal: control characters (ESC and friends) are
 * shown in caret notation so a mail cannot move the cursor or recolour the screen.
 */
export function safe(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f\u0080-\u009f]/g, (ch) => {
    const code = ch.charCodeAt(0);
    return code < 0x20 ? `^${String.fromCharCode(code + 64)}` : code === 0x7f ? '^?' : `\\x${code.toString(16)}`;
  });
}

function oneLine(s: string): string {
  const flat = safe(s.replace(/\s*\r?\n\s*/g, ' ⏎ '));
  return flat.length > 160 ? `${flat.slice(0, 157)}...` : flat;
}

function formatBody(body: string, truncated: boolean, c: Colors): string[] {
  if (body === '') return [c.dim('body: (empty)')];
  const all = body.split(/\r?\n/);
  const shown = all.slice(0, BODY_PREVIEW_LINES);
  const more = all.length - shown.length;
  const out = [c.dim(`body (${Buffer.byteLength(body)} bytes${truncated ? ', truncated to parse.max_body_bytes' : ''}):`)];
  for (const l of shown) out.push(`  │ ${safe(l.length > 200 ? `${l.slice(0, 197)}...` : l)}`);
  if (more > 0) out.push(c.dim(`  │ … ${more} more line${more === 1 ? '' : 's'}`));
  return out;
}

type Paint = (s: string) => string;
interface Colors {
  bold: Paint;
  dim: Paint;
  red: Paint;
  yellow: Paint;
}

function colors(on: boolean): Colors {
  const wrap =
    (a: number, b: number): Paint =>
    (s) =>
      on ? `\u001b[${a}m${s}\u001b[${b}m` : s;
  return { bold: wrap(1, 22), dim: wrap(2, 22), red: wrap(31, 39), yellow: wrap(33, 39) };
}
