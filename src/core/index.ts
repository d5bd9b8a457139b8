/**
 * The pure core: a raw mail in, events (topic + payload) out. No I/O, no
 * clock, no logger. See ../shared/SPEC.md §1–§4.
 */
export type { BugPayload, BugTask, EventPayload, Json, LpEvent, MailInfo, OtherPayload, ParseOptions, ParseOutcome } from './types.js';
export { parseMail, eventId, cleanMessageId, MAX_BUG_TASKS, MAX_BUG_EVENTS } from './parse.js';
export { escapeTopicLevel, buildTopic } from './topic.js';
export { fitPayload, serializePayload, serializePayloads, packetSize, PUBLISH_OVERHEAD } from './fit.js';
export {
  readHeaders,
  headerValues,
  findHeaderEnd,
  decodeHeaderValue,
  unfoldHeaderValue,
  HeaderList,
  type HeaderField,
  type ReadHeaders,
} from './headers.js';
export { decodeEncodedWords } from './rfc2047.js';
export { extractBody, cutUtf8, MAX_MULTIPART_DEPTH, type BodyResult } from './mime.js';
export { parseMailDate } from './date.js';
export { DEFAULT_PARSE_OPTIONS, parseOptionsFromConfig, type ParseConfig } from './options.js';
