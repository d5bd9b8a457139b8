/**
 * The SPEC §5 line of one event. Kept apart (it needs only the serializer,
 * not the config schema) so that parse workers load little.
 */
import { serializePayload } from '../core/fit.js';
import type { LpEvent } from '../core/types.js';

/** `{"topic":...,"payload":{...},"source":"..."}` without the newline. */
export function dryRunLine(event: LpEvent, source: string): string {
  return `{"topic":${JSON.stringify(event.topic)},"payload":${serializePayload(event.payload)},"source":${JSON.stringify(source)}}`;
}
