/**
 * A parse worker for `replay --dry-run`: takes a batch of mails (one
 * transferred buffer plus offsets), returns the §5 lines of their events and
 * one small record per mail for the main thread's logs and counts. Pure work:
 * no I/O besides the message port.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { parseMail } from '../core/parse.js';
import type { ParseOptions } from '../core/types.js';
import { dryRunLines } from './line.js';
import type { BatchJob, BatchResult, MailRecord } from './pool.js';

const opts = (workerData as { parseOptions: ParseOptions }).parseOptions;
const port = parentPort;
if (port === null) throw new Error('replay/worker.js must run as a worker thread');

port.on('message', (job: BatchJob) => {
  const buf = Buffer.from(job.buffer);
  const records: MailRecord[] = [];
  const lines: string[] = [];
  for (let i = 0; i < job.sources.length; i++) {
    const source = job.sources[i]!;
    const outcome = parseMail(buf.subarray(job.offsets[i]!, job.offsets[i + 1]!), opts);
    if (outcome.kind === 'events') {
      for (const l of dryRunLines(outcome.events, source)) lines.push(l, '\n');
      records.push({ kind: 'events', events: outcome.events.length });
    } else if (outcome.kind === 'private') {
      records.push(outcome.info.messageId === undefined ? { kind: 'private' } : { kind: 'private', messageId: outcome.info.messageId });
    } else {
      const r: MailRecord = { kind: outcome.kind, reason: outcome.reason };
      if (outcome.info.messageId !== undefined) r.messageId = outcome.info.messageId;
      records.push(r);
    }
  }
  // Encoded here, so the main thread only writes bytes; transferred, not copied.
  const text = lines.join('');
  const encoded = Buffer.from(text, 'utf8');
  const own = encoded.byteOffset === 0 && encoded.buffer.byteLength === encoded.length ? encoded : Buffer.from(Uint8Array.prototype.slice.call(encoded));
  const result: BatchResult = { seq: job.seq, lines: own.buffer as ArrayBuffer, records };
  port.postMessage(result, text === '' ? [] : [result.lines]);
});
