/**
 * Payloads larger than the broker accepts (max_packet_size set low in the test
 * broker). Mosquitto answers an oversized PUBLISH by dropping the connection,
 * so a daemon that resends it as it is loops forever. The daemon must cut the
 * body to fit (`body-truncated: true`) and publish once; an event that cannot
 * fit even without its body is set aside with a reason, not retried.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeBugMail } from '../helpers/mailgen.js';
import { FAILED_FLAG, mailboxState } from './lib/audit.js';
import { dumpOnFailure, until } from './lib/env.js';
import type { FedMail } from './lib/feeder.js';
import { assertHealthy } from './lib/scenario.js';
import { startStack, type ConfigOver } from './lib/stack.js';

const LIMIT = 4096;

/** Every 3rd mail has a 30 KB body; the rest are ordinary. */
const bigAndSmall = (tag: string) => (i: number): FedMail => {
  const messageId = `<chaos-${tag}-${i}@bugs.launchpad.net>`;
  const m = makeBugMail(i, { messageId, ...(i % 3 === 0 ? { bodyBytes: 30_000 } : { bodyBytes: 300 }) });
  return { raw: m.raw, messageId: m.messageId, targets: m.targets };
};

/** One target with 80 series tasks: the `tasks` array alone is larger than LIMIT. */
function unfittable(tag: string): FedMail {
  const messageId = `<chaos-${tag}-unfittable@bugs.launchpad.net>`;
  const m = makeBugMail(9999, { messageId, targets: 1, bodyBytes: 200 });
  const extra = Array.from({ length: 80 }, (_, k) => `X-Launchpad-Bug: product=${m.targets[0]}; productseries=series-${k}; status=New; importance=Undecided; assignee=None;\r\n`).join('');
  const raw = Buffer.concat([Buffer.from(extra, 'latin1'), m.raw]);
  return { raw, messageId, targets: [] };
}

async function oversize(t: import('node:test').TestContext, name: string, brokerLimit: number, config: ConfigOver): Promise<void> {
  const s = await startStack(t, { broker: { maxPacketSize: brokerLimit }, config, keepPayloads: true });
  await dumpOnFailure(s.daemon, name, async () => {
    const feeder = s.feeder(name, bigAndSmall(name));
    await feeder.backlog(60);
    const odd = s.feeder(`${name}-odd`, () => unfittable(name));
    await odd.backlog(1);
    await feeder.backlog(30);
    const report = await s.drainAndAudit(feeder, 60_000);
    assertHealthy(s, report, 0);

    let truncated = 0;
    let largest = 0;
    for (const receipts of s.recorder.byEventId.values()) {
      for (const r of receipts) {
        largest = Math.max(largest, r.bytes + Buffer.byteLength(r.topic));
        if (r.payload['body-truncated'] === true) truncated++;
        else assert.ok(r.bytes < LIMIT, `an event of ${r.bytes} bytes on ${r.topic} is not marked body-truncated`);
      }
    }
    const bigMails = [...feeder.accepted.keys()].filter((mid) => Number(/-(\d+)@/.exec(mid)?.[1]) % 3 === 0).length;
    assert.ok(truncated >= bigMails, `${truncated} truncated events for ${bigMails} mails with a 30 KB body`);
    assert.ok(largest <= LIMIT, `a packet of about ${largest} bytes got through a limit of ${LIMIT}`);

    // The one that cannot fit: set aside with a reason, once.
    const mid = [...odd.accepted.keys()][0] as string;
    await until('the unfittable mail set aside', async () => {
      const inFailed = (await mailboxState(s.cyrus, 'INBOX.failed')).some((m) => m.messageId === mid);
      const flagged = (await mailboxState(s.cyrus)).some((m) => m.messageId === mid && m.flags.has(FAILED_FLAG));
      return inFailed || flagged;
    }, 30_000, () => s.daemon.tail(10));
    const lines = s.daemon.lines.filter((l) => l['messageId'] === mid && typeof l['reason'] === 'string');
    assert.equal(lines.length, 1, `the unfittable mail was handled ${lines.length} times`);
    assert.match(String(lines[0]?.['reason']), /fit|size|large/i);

    // No disconnect/resend loop: one MQTT connection, no "connection lost".
    const lost = s.daemon.lines.filter((l) => /MQTT connection lost/.test(l.msg ?? '')).length;
    const brokerConnects = (s.broker.output().match(/New client connected/g) ?? []).length;
    console.log(`# ${name}: ${truncated} events cut to fit, largest packet ≈ ${largest} B, unfittable: ${String(lines[0]?.['reason'])}; MQTT connections ${s.mqttProxy.accepted}, broker connects ${brokerConnects}, lost ${lost}`);
    assert.equal(s.mqttProxy.accepted, 1, 'the daemon reconnected to the broker: a disconnect/resend loop');
    assert.equal(lost, 0);
  });
}

test('broker max_packet_size learnt from CONNACK: bodies cut to fit, no disconnect loop, an unfittable event set aside', async (t) => {
  await oversize(t, 'oversize-connack', LIMIT, {});
});

test('mqtt.max_packet_size configured below the broker limit: the smaller one wins', async (t) => {
  await oversize(t, 'oversize-config', 65_536, { mqtt: { max_packet_size: LIMIT } });
});
