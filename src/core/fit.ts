/**
 * Serialising payloads and fitting them into the broker's packet size limit.
 */
import type { EventPayload, LpEvent } from './types.js';

/** Bytes of a PUBLISH packet besides topic and payload: fixed header (≤5), topic length (2), packet id (2), MQTT 5 properties. */
export const PUBLISH_OVERHEAD = 16;

/** The one place a payload becomes the bytes on the wire. */
export function serializePayload(p: EventPayload): string {
  return JSON.stringify(p);
}

/**
 * Serialise the events of one mail, byte for byte as serializePayload would.
 * Fan-out copies share one body string (most of a payload's bytes), so its
 * JSON is made once per mail instead of once per target.
 */
export function serializePayloads(payloads: readonly EventPayload[]): string[] {
  if (payloads.length < 2) return payloads.map(serializePayload);
  let body: string | undefined;
  let bodyJson = '';
  return payloads.map((p) => {
    const b = p['body'];
    if (typeof b !== 'string' || b.length < 512 || !bodyComesLast(p)) return serializePayload(p);
    if (b !== body) {
      body = b;
      bodyJson = JSON.stringify(b);
    }
    const { body: _body, 'body-truncated': truncated, ...rest } = p;
    const head = JSON.stringify(rest);
    const tail = truncated === undefined ? '}' : `,"body-truncated":${JSON.stringify(truncated)}}`;
    return `${head.slice(0, -1)},"body":${bodyJson}${tail}`;
  });
}

/** True when `body` is the last key, or second to last before `body-truncated` (the parser's order). */
function bodyComesLast(p: EventPayload): boolean {
  const keys = Object.keys(p);
  const n = keys.length;
  if (n < 2) return false;
  if (keys[n - 1] === 'body') return true;
  return keys[n - 1] === 'body-truncated' && keys[n - 2] === 'body';
}

/** Size of the PUBLISH packet for this event, as fitPayload counts it. */
export function packetSize(event: LpEvent): number {
  return PUBLISH_OVERHEAD + Buffer.byteLength(event.topic, 'utf8') + Buffer.byteLength(serializePayload(event.payload), 'utf8');
}

/** UTF-8 bytes one UTF-16 code unit adds inside a JSON string (pairs count 2 + 2). */
function jsonUnitBytes(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 0x22 || c === 0x5c) return 2;
  if (c < 0x20) return c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 2 : 6;
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c >= 0xd800 && c <= 0xdbff) {
    const d = s.charCodeAt(i + 1);
    return d >= 0xdc00 && d <= 0xdfff ? 2 : 6; // a pair is 4 bytes: 2 here, 2 for the low half
  }
  if (c >= 0xdc00 && c <= 0xdfff) {
    const p = i > 0 ? s.charCodeAt(i - 1) : 0;
    return p >= 0xd800 && p <= 0xdbff ? 2 : 6; // lone surrogates are written as \udXXX
  }
  return 3;
}

/**
 * An event whose packet fits in `maxBytes`: the body is cut (on a character
 * boundary) and `body-truncated: true` set when needed. When even an empty
 * body does not fit, the event comes back with body "" and the caller decides.
 */
export function fitPayload(event: LpEvent, maxBytes: number): LpEvent {
  const body = event.payload['body'];
  if (typeof body !== 'string') return event;
  if (packetSize(event) <= maxBytes) return event;
  const empty: LpEvent = { topic: event.topic, payload: { ...event.payload, body: '', 'body-truncated': true } };
  let budget = maxBytes - packetSize(empty);
  if (budget <= 0) return empty;
  let end = 0;
  while (end < body.length) {
    const cost = jsonUnitBytes(body, end);
    // Never split a surrogate pair.
    const pair = cost === 2 && body.charCodeAt(end) >= 0xd800 && body.charCodeAt(end) <= 0xdbff;
    const total = pair ? 4 : cost;
    if (total > budget) break;
    budget -= total;
    end += pair ? 2 : 1;
  }
  return { topic: event.topic, payload: { ...event.payload, body: body.slice(0, end), 'body-truncated': true } };
}
