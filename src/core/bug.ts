/**
 * Bug notifications (SPEC §2): tasks from `X-Launchpad-Bug`, bug number,
 * title, fan-out per target, and the payload of each event.
 */
import type { BugPayload, BugTask, Json } from './types.js';

/** Set an own property even for the key `__proto__` (task keys come from mail). */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/**
 * Parse one `X-Launchpad-Bug` value: `;`-separated `key=value` pairs, values
 * may contain spaces and `=`, `None` → null, empty pairs and pairs without
 * `=` ignored, a repeated key keeps its last value.
 */
export function parseBugTask(value: string): BugTask {
  const task: BugTask = {};
  for (const pair of value.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    const key = pair.slice(0, eq).trim();
    if (key === '') continue;
    const v = pair.slice(eq + 1).trim();
    setOwn(task, key, v === 'None' ? null : v);
  }
  return task;
}

/** The target of a task: its product, else its distribution (SPEC §2). */
export function taskTarget(task: BugTask): string | undefined {
  const p = task['product'];
  if (typeof p === 'string' && p !== '') return p;
  const d = task['distribution'];
  if (typeof d === 'string' && d !== '') return d;
  return undefined;
}

function isSeriesTask(task: BugTask): boolean {
  const ps = task['productseries'];
  const ds = task['distroseries'];
  return (typeof ps === 'string' && ps !== '') || (typeof ds === 'string' && ds !== '');
}

/** One event to build: a target (or none) and its primary task (or none). */
export interface FanoutEntry {
  target: string | undefined;
  primary: BugTask | undefined;
}

/**
 * SPEC §2 fan-out: one entry per distinct target in order of first
 * appearance; the primary task of a target is its first task without a
 * series, else its first task. With `first`, only the first task. No task (or
 * no task with a target) → one entry without target.
 */
export function fanout(tasks: readonly BugTask[], mode: 'all' | 'first'): FanoutEntry[] {
  if (tasks.length === 0) return [{ target: undefined, primary: undefined }];
  if (mode === 'first') {
    const t = tasks[0] as BugTask;
    return [{ target: taskTarget(t), primary: t }];
  }
  const byTarget = new Map<string, { first: BugTask; nonSeries: BugTask | undefined }>();
  for (const t of tasks) {
    const target = taskTarget(t);
    if (target === undefined) continue;
    const e = byTarget.get(target);
    if (!e) byTarget.set(target, { first: t, nonSeries: isSeriesTask(t) ? undefined : t });
    else if (!e.nonSeries && !isSeriesTask(t)) e.nonSeries = t;
  }
  if (byTarget.size === 0) return [{ target: undefined, primary: tasks[0] }];
  return [...byTarget].map(([target, e]) => ({ target, primary: e.nonSeries ?? e.first }));
}

const SUBJECT_BUG = /\[Bug\s*#?(\d{1,12})\]/i;
const ADDRESS_BUG = /(?<!\d)(\d{1,12})@bugs\.launchpad\.net/i;

/** SPEC §2 bug number: `[Bug N]` in the Subject, else `N@bugs.launchpad.net` in Reply-To, else in From. */
export function findBugNumber(subject: string | undefined, replyTo: string | undefined, from: string | undefined): string | undefined {
  const s = subject === undefined ? null : SUBJECT_BUG.exec(subject);
  if (s) return s[1];
  for (const h of [replyTo, from]) {
    const m = h === undefined ? null : ADDRESS_BUG.exec(h);
    if (m) return m[1];
  }
  return undefined;
}

/** Title and `[NEW]` flag from a decoded Subject (SPEC §2 `title`, `new-bug`). */
export function splitSubject(subject: string): { title: string; isNew: boolean } {
  const m = SUBJECT_BUG.exec(subject);
  // Everything before `[Bug N]` is mailing-list prefixes (and a list's `Re:`).
  let rest = m ? subject.slice(m.index + m[0].length) : subject;
  let isNew = false;
  rest = rest.trimStart();
  if (rest.startsWith('[NEW]')) {
    isNew = true;
    rest = rest.slice(5).trimStart();
  }
  while (/^Re\s*:/i.test(rest)) rest = rest.slice(rest.indexOf(':') + 1).trimStart();
  return { title: rest.trim(), isNew };
}

/** Split on white space, dropping empties (commenters, tags). */
export function words(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(/\s+/).filter((w) => w !== '');
}

/** yes/no header → boolean; anything else → undefined (absent). */
export function yesNo(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (v === 'yes') return true;
  if (v === 'no') return false;
  return undefined;
}

/** Payload keys this module sets itself; task keys of these names are not copied over them. */
export const BUG_RESERVED = new Set([
  'event-type', 'project', 'bug-number', 'status', 'importance', 'assignee', 'commenters', 'bug-reporter',
  'bug-modifier', 'tags', 'body', 'body-truncated', 'subject', 'title', 'new-bug', 'message-id', 'date', 'url',
  'information-type', 'private', 'security-vulnerability', 'duplicate-of', 'rationale', 'message-for', 'tasks',
  'event-id', 'product',
]);

/** Facts of a bug mail shared by all its events. */
export interface BugFacts {
  bugNumber: string | undefined;
  subject: string | undefined;
  /** splitSubject(subject), computed once per mail. */
  subjectParts: { title: string; isNew: boolean } | undefined;
  commenters: string[];
  reporter: string | undefined;
  modifier: string | undefined;
  tags: string[];
  informationType: string | undefined;
  private: boolean | undefined;
  securityVulnerability: boolean | undefined;
  duplicateOf: string | undefined;
  rationale: string | undefined;
  messageFor: string | undefined;
  messageId: string | undefined;
  date: string | undefined;
  tasks: BugTask[];
  body: string;
  bodyTruncated: boolean;
}

/** Build the payload of one bug event (field order: SPEC §2 table, body last). */
export function bugPayload(f: BugFacts, entry: FanoutEntry, eventId: string): BugPayload {
  const p: BugPayload = { 'event-type': 'bug' };
  if (entry.target !== undefined) p.project = entry.target;
  if (f.bugNumber !== undefined) p['bug-number'] = f.bugNumber;
  const task = entry.primary;
  if (task) {
    for (const k of ['status', 'importance', 'assignee']) {
      if (Object.hasOwn(task, k)) p[k] = task[k] as Json;
    }
    for (const k of Object.keys(task)) {
      if (!BUG_RESERVED.has(k)) setOwn(p, k, task[k]);
    }
  }
  p['commenters'] = f.commenters;
  if (f.reporter !== undefined) p['bug-reporter'] = f.reporter;
  if (f.modifier !== undefined) p['bug-modifier'] = f.modifier;
  p['tags'] = f.tags;
  if (f.subject !== undefined && f.subjectParts !== undefined) {
    p['subject'] = f.subject;
    p['title'] = f.subjectParts.title;
    p['new-bug'] = f.subjectParts.isNew;
  } else {
    p['new-bug'] = false;
  }
  if (f.messageId !== undefined) p['message-id'] = f.messageId;
  if (f.date !== undefined) p['date'] = f.date;
  if (f.bugNumber !== undefined) p['url'] = `https://bugs.launchpad.net/bugs/${f.bugNumber}`;
  if (f.informationType !== undefined) p['information-type'] = f.informationType;
  if (f.private !== undefined) p['private'] = f.private;
  if (f.securityVulnerability !== undefined) p['security-vulnerability'] = f.securityVulnerability;
  if (f.duplicateOf !== undefined) p['duplicate-of'] = f.duplicateOf;
  if (f.rationale !== undefined) p['rationale'] = f.rationale;
  if (f.messageFor !== undefined) p['message-for'] = f.messageFor;
  p['tasks'] = f.tasks;
  p['event-id'] = eventId;
  p['body'] = f.body;
  if (f.bodyTruncated) p['body-truncated'] = true;
  return p;
}
