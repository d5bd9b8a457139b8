/**
 * The shape of most fault tests: start the stack, feed a steady stream of
 * mail, inject faults, stop feeding, wait for the daemon to catch up, audit,
 * print the numbers, and check the invariants that hold whatever the fault:
 * nothing lost, everything marked, the daemon still running, no loop.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { formatReport, type AuditReport } from './audit.js';
import { dumpOnFailure } from './env.js';
import type { Feeder, FedMail } from './feeder.js';
import { startStack, type Stack, type StackOptions } from './stack.js';

export interface ScenarioOptions extends StackOptions {
  /** Run the faults as soon as the process is spawned, before it has connected (default: after). */
  early?: boolean;
  /** Test name, for the printed summary and the log dump. */
  name: string;
  /** Mails delivered before the daemon starts. */
  backlog?: number;
  /** Steady mails per second while the faults run (0: none). */
  rate?: number;
  /** How long the daemon may take to catch up after the faults, ms. */
  drainMs?: number;
  /** The mails fed (default: realistic bug mails). */
  source?: (i: number) => FedMail;
  /** Largest number of mails that may be published twice. */
  maxDuplicateMails: number;
}

export interface ScenarioResult {
  stack: Stack;
  feeder: Feeder;
  report: AuditReport;
}

export async function runScenario(
  t: TestContext,
  opts: ScenarioOptions,
  faults: (s: Stack, feeder: Feeder) => Promise<void>,
): Promise<ScenarioResult> {
  const backlog = opts.backlog ?? 0;
  const s = await startStack(t, { ...opts, noDaemon: true });
  return dumpOnFailure(s.daemon, opts.name, async () => {
    const feeder = s.feeder(opts.name, opts.source);
    if (backlog > 0) await feeder.backlog(backlog);
    await s.daemon.start();
    if (opts.early !== true) await s.daemon.waitConnected(30_000);
    if ((opts.rate ?? 0) > 0) feeder.start(opts.rate as number);
    try {
      await faults(s, feeder);
    } finally {
      await feeder.stop();
    }
    const report = await s.drainAndAudit(feeder, opts.drainMs ?? 90_000);
    console.log(`# ${opts.name}: ${formatReport(report)}`);
    console.log(`# ${opts.name}: IMAP connections ${s.imapProxy.accepted}, MQTT connections ${s.mqttProxy.accepted}, daemon warnings ${s.daemon.problems().length}, peak RSS ${Math.round(s.daemon.peakRssAllRunsKB() / 1024)} MB`);
    assertHealthy(s, report, opts.maxDuplicateMails);
    return { stack: s, feeder, report };
  });
}

/** The invariants every fault test checks. */
export function assertHealthy(s: Stack, report: AuditReport, maxDuplicateMails: number): void {
  const summary = formatReport(report);
  assert.deepEqual(s.daemon.exits, [], `the daemon exited:\n${s.daemon.tail()}`);
  assert.ok(s.daemon.running, 'the daemon is not running');
  assert.ok(report.mails > 0, 'no mail was fed');
  assert.equal(report.missingCount, 0, `events lost:\n  ${summary}`);
  assert.equal(report.unmarkedCount, 0, `mails left unmarked:\n  ${summary}`);
  assert.deepEqual(report.notInMailbox, [], 'Cyrus lost accepted mail (harness problem, not the daemon)');
  assert.deepEqual(report.stray, [], 'events for mails that were never delivered');
  assert.equal(s.recorder.odd.length, 0, `events that are not JSON objects with an event-id: ${s.recorder.odd.map((r) => `${r.topic} (${r.bytes} bytes): ${JSON.stringify(r.raw)}`).join('; ')}`);
  assert.ok(report.duplicateMails <= maxDuplicateMails, `${report.duplicateMails} mails published more than once (bound ${maxDuplicateMails}):\n  ${summary}`);
}
