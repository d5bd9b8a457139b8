// The parsing half of the daemon bench's two-thread ceiling: mails in, each
// event's topic and serialised payload out, in the batches the main thread
// posts. Plain JS so that a Worker can start it; the parser is loaded from
// src/ through tsx, as in the rest of the bench.
import { parentPort, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { parseMail, serializePayloads } = await import('../src/core/index.ts');

parentPort.on('message', (batch) => {
  const out = batch.map((source) => {
    const outcome = parseMail(Buffer.from(source.buffer, source.byteOffset, source.byteLength), workerData.parseOptions);
    if (outcome.kind !== 'events') return { topics: [], payloads: [] };
    return { topics: outcome.events.map((e) => e.topic), payloads: serializePayloads(outcome.events.map((e) => e.payload)) };
  });
  parentPort.postMessage(out);
});
