/**
 * parseMail: one raw mail → what to publish (SPEC §1–§4). Pure and
 * synchronous: no I/O, no clock, no logger; never throws.
 */
import { hash } from 'node:crypto';
import { type BugFacts, bugPayload, fanout, findBugNumber, parseBugTask, splitSubject, words, yesNo } from './bug.js';
import { parseMailDate } from './date.js';
import { type HeaderList, readHeaders } from './headers.js';
import { extractBody } from './mime.js';
import { deriveProject, launchpadHeaders, otherPayload } from './other.js';
import { buildTopic } from './topic.js';
import type { LpEvent, MailInfo, ParseOptions, ParseOutcome } from './types.js';

const LAUNCHPAD_WORD = /\bLaunchpad\b/;

/**
 * Bounds against forged mail: every event carries every task, so N tasks over
 * N targets would cost N² in output. Real mail has a handful (LAUNCHPAD.md:
 * seen up to 7); tasks beyond MAX_BUG_TASKS are ignored and at most
 * MAX_BUG_EVENTS targets get an event.
 */
export const MAX_BUG_TASKS = 500;
export const MAX_BUG_EVENTS = 100;

/** SPEC §2 `event-id`: first 32 hex chars of SHA-256(message-id + "\n" + project-or-empty). */
export function eventId(messageId: string, project: string | undefined): string {
  return hash('sha256', `${messageId}\n${project ?? ''}`, 'hex').slice(0, 32);
}

/** Message-Id without angle brackets (the first `<...>` when there is one); undefined when missing or empty. */
export function cleanMessageId(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const open = value.indexOf('<');
  const close = open >= 0 ? value.indexOf('>', open + 1) : -1;
  const id = (open >= 0 && close > open ? value.slice(open + 1, close) : value).trim();
  return id === '' ? undefined : id;
}

function isLaunchpad(headers: HeaderList): boolean {
  return headers.all('x-generated-by').some((v) => LAUNCHPAD_WORD.test(v));
}

/** Parse one raw RFC 5322 mail. */
export function parseMail(raw: Buffer, opts: ParseOptions): ParseOutcome {
  const info: MailInfo = {};
  try {
    return parseUnsafe(raw, opts, info);
  } catch (err) {
    // Defence in depth: parsing is written not to throw; if it does, the mail is invalid, not the process.
    return { kind: 'invalid', info, reason: `parser error: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function parseUnsafe(raw: Buffer, opts: ParseOptions, info: MailInfo): ParseOutcome {
  if (raw.length === 0) return { kind: 'invalid', info, reason: 'empty mail' };
  const { headers, bodyOffset } = readHeaders(raw);
  if (headers.size === 0) return { kind: 'invalid', info, reason: 'no header fields before the first empty line' };

  const messageId = cleanMessageId(headers.get('message-id'));
  const subject = headers.get('subject');
  if (messageId !== undefined) info.messageId = messageId;
  if (subject !== undefined) info.subject = subject;

  if (!isLaunchpad(headers)) {
    const gen = headers.get('x-generated-by');
    const reason = gen === undefined ? 'no X-Generated-By header' : 'X-Generated-By does not name Launchpad';
    return { kind: 'foreign', info, reason };
  }

  const rawType = headers.get('x-launchpad-notification-type');
  const notificationType = rawType === undefined || rawType === '' ? 'unknown' : rawType;
  info.notificationType = notificationType;
  const isBug = notificationType.toLowerCase() === 'bug';
  // Reply-To and From are decoded only when the Subject has no [Bug N].
  const bugNumber = isBug
    ? (findBugNumber(subject, undefined, undefined) ??
      findBugNumber(undefined, headers.get('reply-to'), undefined) ??
      findBugNumber(undefined, undefined, headers.get('from')))
    : undefined;
  if (bugNumber !== undefined) info.bugNumber = bugNumber;

  // Private bugs are checked before the body is even looked at.
  const isPrivate = yesNo(headers.get('x-launchpad-bug-private'));
  if (opts.privateBugs === 'skip' && isPrivate === true) {
    return { kind: 'private', info };
  }

  const { body, truncated } = extractBody(raw, headers, bodyOffset, opts.maxBodyBytes);
  const date = parseMailDate(headers.get('date'));
  // Without a Message-Id the event-id would collide across mails; a digest of the mail stands in.
  const idBasis = messageId ?? `sha256:${hash('sha256', raw, 'hex')}`;
  const events: LpEvent[] = [];

  if (!isBug) {
    const project = deriveProject(headers);
    const payload = otherPayload(
      { eventType: notificationType, project, subject, messageId, date, body, bodyTruncated: truncated },
      launchpadHeaders(headers),
      eventId(idBasis, project),
    );
    events.push({ topic: buildTopic(opts.baseTopic, [project, notificationType]), payload });
    return { kind: 'events', info, events };
  }

  const tasks = headers.all('x-launchpad-bug', MAX_BUG_TASKS).map(parseBugTask);
  const facts: BugFacts = {
    bugNumber,
    subject,
    subjectParts: subject === undefined ? undefined : splitSubject(subject),
    commenters: words(headers.get('x-launchpad-bug-commenters')),
    reporter: headers.get('x-launchpad-bug-reporter'),
    modifier: headers.get('x-launchpad-bug-modifier'),
    tags: words(headers.get('x-launchpad-bug-tags')),
    informationType: headers.get('x-launchpad-bug-information-type'),
    private: isPrivate,
    securityVulnerability: yesNo(headers.get('x-launchpad-bug-security-vulnerability')),
    duplicateOf: headers.get('x-launchpad-bug-duplicate'),
    rationale: headers.get('x-launchpad-message-rationale'),
    messageFor: headers.get('x-launchpad-message-for'),
    messageId,
    date,
    tasks,
    body,
    bodyTruncated: truncated,
  };
  for (const entry of fanout(tasks, opts.fanout).slice(0, MAX_BUG_EVENTS)) {
    const payload = bugPayload(facts, entry, eventId(idBasis, entry.target));
    events.push({ topic: buildTopic(opts.baseTopic, [entry.target, 'bug', bugNumber]), payload });
  }
  return { kind: 'events', info, events };
}
