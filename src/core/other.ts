/**
 * Launchpad notifications other than bugs (SPEC §3): every `X-Launchpad-*`
 * header becomes a payload key, and a project is derived when possible.
 */
import type { HeaderList } from './headers.js';
import { decodeHeaderValue } from './headers.js';
import { setOwn } from './bug.js';
import type { Json, OtherPayload } from './types.js';

const PREFIX = 'x-launchpad-';

/** Keys set by the parser itself; an `X-Launchpad-*` header of the same name does not override them. */
export const OTHER_RESERVED = new Set([
  'event-type', 'project', 'subject', 'message-id', 'date', 'body', 'body-truncated', 'event-id',
]);

/** Every `X-Launchpad-*` header as `name-without-prefix → value` (repeated → array), header order. */
export function launchpadHeaders(headers: HeaderList): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const f of headers.withPrefix(PREFIX)) {
    if (f.name.length === PREFIX.length) continue;
    const key = f.name.slice(PREFIX.length);
    const value = decodeHeaderValue(f.raw);
    const prev = Object.hasOwn(out, key) ? out[key] : undefined;
    if (prev === undefined) setOwn(out, key, value);
    else if (Array.isArray(prev)) prev.push(value);
    else setOwn(out, key, [prev, value]);
  }
  return out;
}

const NAME = /^[a-z0-9][a-z0-9+.-]*$/i;

/** `~owner/PROJECT/branch` or `~owner/PROJECT/+git/repo[:ref]` → PROJECT (`lp:` prefix allowed). */
export function projectFromBranch(branch: string | undefined): string | undefined {
  if (!branch) return undefined;
  const b = branch.replace(/^lp:/, '');
  if (!b.startsWith('~')) return undefined;
  const seg = b.split('/')[1]?.split(':')[0];
  return seg && seg !== '+git' && NAME.test(seg) ? seg : undefined;
}

/**
 * The distribution an archive reference names: `~owner/DISTRO/ppa` → DISTRO;
 * a primary or copy archive (`ubuntu`, `ubuntu/+copy/x`) → its first part.
 */
export function distroFromArchive(ref: string | undefined, allowBare: boolean): string | undefined {
  if (!ref) return undefined;
  const r = ref.replace(/^ppa:/, '');
  const parts = r.split('/');
  if (r.startsWith('~')) {
    const seg = parts.length >= 3 ? parts[1] : undefined;
    return seg && NAME.test(seg) ? seg : undefined;
  }
  if (!allowBare) return undefined;
  const seg = parts[0];
  return seg && NAME.test(seg) ? seg : undefined;
}

/** SPEC §3 project: X-Launchpad-Project, else Branch, else Archive / PPA distribution. */
export function deriveProject(headers: HeaderList): string | undefined {
  const project = headers.get('x-launchpad-project');
  if (project) return project;
  return (
    projectFromBranch(headers.get('x-launchpad-branch')) ??
    distroFromArchive(headers.get('x-launchpad-archive'), true) ??
    distroFromArchive(headers.get('x-launchpad-ppa'), false)
  );
}

/** Facts of a non-bug mail. */
export interface OtherFacts {
  eventType: string;
  project: string | undefined;
  subject: string | undefined;
  messageId: string | undefined;
  date: string | undefined;
  body: string;
  bodyTruncated: boolean;
}

/** Build the payload of a non-bug event: our fields first, then the X-Launchpad-* keys, body last. */
export function otherPayload(f: OtherFacts, lp: Record<string, Json>, eventId: string): OtherPayload {
  const p: OtherPayload = { 'event-type': f.eventType };
  if (f.project !== undefined) p.project = f.project;
  if (f.subject !== undefined) p['subject'] = f.subject;
  if (f.messageId !== undefined) p['message-id'] = f.messageId;
  if (f.date !== undefined) p['date'] = f.date;
  for (const k of Object.keys(lp)) {
    if (!OTHER_RESERVED.has(k)) setOwn(p, k, lp[k]);
  }
  p['event-id'] = eventId;
  p['body'] = f.body;
  if (f.bodyTruncated) p['body-truncated'] = true;
  return p;
}
