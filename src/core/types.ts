/**
 * The shapes that cross module boundaries. The parser core produces these; the
 * adapters (replay, IMAP bridge, MQTT publisher) consume them. See
 * ../shared/SPEC.md for the binding event contract.
 */

/** A JSON value as it appears in an event payload. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** One bug task from an `X-Launchpad-Bug` header; `None` values become null. */
export type BugTask = Record<string, string | null>;

/** SPEC §2: payload of a bug notification. */
export interface BugPayload {
  'event-type': 'bug';
  project?: string;
  'bug-number'?: string;
  [key: string]: Json | undefined;
}

/** SPEC §3: payload of any other Launchpad notification. */
export interface OtherPayload {
  'event-type': string;
  project?: string;
  [key: string]: Json | undefined;
}

export type EventPayload = BugPayload | OtherPayload;

/** One message for the broker: a topic (already escaped) and a JSON payload. */
export interface LpEvent {
  topic: string;
  payload: EventPayload;
}

export interface ParseOptions {
  /** First topic level, SPEC §4 (`launchpad`). */
  baseTopic: string;
  /** `all`: one event per distinct target; `first`: the old daemon's first task only. */
  fanout: 'all' | 'first';
  /** Body is cut to this many UTF-8 bytes and `body-truncated: true` set. */
  maxBodyBytes: number;
  /** `skip`: mail with `X-Launchpad-Bug-Private: yes` yields no event. */
  privateBugs: 'skip' | 'publish';
}

/** Facts about the mail that logs and the bridge need whatever the outcome. */
export interface MailInfo {
  messageId?: string;
  subject?: string;
  bugNumber?: string;
  notificationType?: string;
}

/**
 * What one raw mail turns into. Only `events` is published; `private` is set
 * aside as processed; `foreign` and `invalid` go to the failed folder.
 */
export type ParseOutcome =
  | { kind: 'events'; info: MailInfo; events: LpEvent[] }
  | { kind: 'private'; info: MailInfo }
  | { kind: 'foreign'; info: MailInfo; reason: string }
  | { kind: 'invalid'; info: MailInfo; reason: string };
