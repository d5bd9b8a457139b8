/**
 * The SPEC §5 lines of events. Kept apart (it needs only the serializer,
 * not the config schema) so that parse workers load little.
 */
import { serializePayload, serializePayloads } from '../core/fit.js';
import type { LpEvent } from '../core/types.js';

/** `{"topic":...,"payload":{...},"source":"..."}` without the newline. */
export function dryRunLine(event: LpEvent, source: string): string {
  return line(event.topic, serializePayload(event.payload), JSON.stringify(source));
}

/** The lines of one mail's events, each without the newline; the shared body is serialised once. */
export function dryRunLines(events: readonly LpEvent[], source: string): string[] {
  const payloads = serializePayloads(events.map((e) => e.payload));
  const src = JSON.stringify(source);
  return events.map((e, i) => line(e.topic, payloads[i] as string, src));
}

function line(topic: string, payload: string, source: string): string {
  return `{"topic":${JSON.stringify(topic)},"payload":${payload},"source":${source}}`;
}
