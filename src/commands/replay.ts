/**
 * `lpmqtt replay [-c FILE] [--dry-run] [--no-verify] PATH...`: one-shot
 * replay of stored mail (SPEC §5, §6). Exit 0 when every mail was handled
 * (foreign, private and rejected mail included), 1 when some mail could not
 * be read, parsed, verified or published.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Logger } from '../log.js';
import type { Config } from '../config/schema.js';
import type { EventSink } from '../replay.js';
import { UsageError, errorReason } from '../errors.js';
import { CONFIG_HELP, configFor } from './shared.js';

interface ReplayFlags {
  config?: string;
  dryRun?: boolean;
  imapFolder?: string;
  verify: boolean;
  jobs?: number;
}

function jobCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new InvalidArgumentError('expected a whole number 0-64');
  return n;
}

/** Progress is shown on a terminal once there are more entries than this. */
const PROGRESS_MIN_FILES = 50;

export function registerReplay(program: Command): Command {
  return program
    .command('replay')
    .description('one-shot: publish stored mail (.eml files, folders, mbox, - for stdin), or print it with --dry-run')
    .argument('[path...]', '.eml file, folder (recursive), mbox file, or - for stdin')
    .option('-c, --config <file>', CONFIG_HELP)
    .option('--dry-run', 'publish nothing: print one JSON line per event on stdout')
    .option('--imap-folder <name>', 're-publish the unseen mail of this IMAP folder (e.g. INBOX.failed) instead of files, marking it as the daemon does')
    .option('--no-verify', 'skip sender verification (verify.dkim / verify.authserv_id) even when configured')
    .addOption(
      new Option('--jobs <n>', 'parse worker threads for --dry-run (0: all on the main thread; default with 200+ files: cores - 1, at most 4, none on 1-2 cores)').argParser(jobCount),
    )
    .addHelpText(
      'after',
      `
Input:
  FILE     read whatever its name: one mail, or an mbox when it starts with "From "
  FOLDER   walked recursively in name order; takes *.eml and *.mbox files and
           every file in a Maildir cur/ or new/ folder; hidden entries (.name)
           and other files (goldens, READMEs) are skipped
  -        stdin: one mail, or an mbox when it starts with "From "
  mbox files are streamed (mboxrd: ">From " lines are unquoted); their mails
  are named PATH#N (N from 1), stdin's <stdin> or <stdin>#N.

Output:
  --dry-run prints, per event, one line on stdout and nothing else:
    {"topic":"launchpad/qemu/bug/1859713","payload":{...},"source":"mails/1.eml"}
  Logs (each skipped or failed mail with its reason) and the closing summary go
  to stderr; a progress line too when stderr is a terminal.
  Without --dry-run every event is published to the configured broker at its
  QoS, and replay waits until the broker has acknowledged all of them. The MQTT
  client id gets a "-replay-<pid>" suffix so the daemon is not disconnected,
  and no online/offline status is published.

Sender verification:
  When verify.dkim or verify.authserv_id is configured, replay applies it as
  the daemon does (with and without --dry-run), so the output shows exactly
  what the daemon would publish. Mail that fails verification is counted as
  rejected (not an error); a DNS error during verification is a failure.
  --no-verify skips it, e.g. for old archives whose DKIM keys are gone.

From IMAP:
  --imap-folder NAME runs the daemon's bridge on that folder of the configured
  mailbox until the unseen mail found there at start has been handled, then
  exits. Each mail is marked (imap.after_publish) only after the broker
  acknowledged its events. Mail that fails again stays in that folder, flagged
  $LpmqttFailed, when NAME is the failed folder itself.

Exit status: 0 every mail handled (foreign, private and rejected mail
included), 1 some mail could not be read, parsed, verified or published,
2 bad usage or invalid configuration.

Examples:
  lpmqtt replay --dry-run samples/ > events.ndjson
  lpmqtt replay -c /etc/lpmqtt.conf archive.mbox
  zcat old.mbox.gz | lpmqtt replay --dry-run -
  lpmqtt replay -c /etc/lpmqtt.yaml --imap-folder INBOX.failed`,
    )
    .action(async (paths: string[], o: ReplayFlags) => {
      if (o.imapFolder !== undefined) {
        if (paths.length > 0) throw new UsageError('replay: give either PATH... or --imap-folder, not both');
        if (o.dryRun === true) throw new UsageError('replay: --dry-run reads files; it cannot be combined with --imap-folder');
        process.exitCode = await replayImapCommand(o.imapFolder, o);
        return;
      }
      if (paths.length === 0) throw new UsageError('replay: nothing to replay: give PATH... (or - for stdin), or --imap-folder NAME');
      process.exitCode = await replayCommand(paths, o);
    });
}

async function replayCommand(paths: string[], o: ReplayFlags): Promise<number> {
  const { config } = await configFor(o);
  const [{ createLogger }, { replay, describeSummary }, { Progress }] = await Promise.all([
    import('../log.js'),
    import('../replay.js'),
    import('../replay/progress.js'),
  ]);
  const log = createLogger({ level: config.log.level, fd: 2 });
  const dryRun = o.dryRun === true;

  let verify;
  if (o.verify && (config.verify.dkim || config.verify.authserv_id !== undefined)) {
    const { createVerifier } = await import('../verify.js');
    verify = createVerifier(config.verify, { log });
  }

  let sink: (EventSink & { close(): Promise<void> }) | undefined;
  if (!dryRun) {
    sink = await openPublisher(config, log);
    if (sink === undefined) return 1;
  }

  const progress = process.stderr.isTTY === true ? new Progress(process.stderr) : undefined;
  let summary;
  try {
    summary = await replay({
      paths,
      config,
      log,
      verify,
      ...(dryRun ? { out: process.stdout } : {}),
      ...(sink ? { sink } : {}),
      ...(o.jobs !== undefined ? { workers: o.jobs } : {}),
      onProgress: (done, total, s) => {
        if (progress === undefined || total <= PROGRESS_MIN_FILES) return;
        progress.update(
          `replay: ${done}/${total} files, ${s.mails} mails, ${s.events} events${dryRun ? '' : ` (${s.published} published)`}, ${s.failed} failed`,
          done === total,
        );
      },
    });
  } finally {
    progress?.clear();
    await sink?.close();
  }
  const level = summary.failed > 0 ? 'warn' : 'info';
  log[level]({ summary }, describeSummary(summary, dryRun));
  log.flush();
  return summary.failed > 0 ? 1 : 0;
}

async function replayImapCommand(folder: string, o: ReplayFlags): Promise<number> {
  const { config } = await configFor(o);
  const [{ createLogger }, { replayImapFolder, describeImapSummary }] = await Promise.all([
    import('../log.js'),
    import('./replay-imap.js'),
  ]);
  const log = createLogger({ level: config.log.level, fd: 2 });
  let verifier;
  if (o.verify && (config.verify.dkim || config.verify.authserv_id !== undefined)) {
    const { createVerifier } = await import('../verify.js');
    verifier = createVerifier(config.verify, { log });
  }
  try {
    const summary = await replayImapFolder({ config, folder, log, verifier });
    const bad = summary.counts.failed + summary.left;
    log[bad > 0 ? 'warn' : 'info']({ summary }, describeImapSummary(summary));
    log.flush();
    return bad > 0 ? 1 : 0;
  } catch (err) {
    log.error({ err: { message: errorReason(err) } }, `replay of IMAP folder ${folder} failed: ${errorReason(err)}`);
    log.flush();
    return 1;
  }
}

/** Connects to the broker, bounded by mqtt.publish_timeout; logs and returns undefined when it cannot. */
async function openPublisher(config: Config, log: Logger): Promise<(EventSink & { close(): Promise<void> }) | undefined> {
  const [{ Publisher }, { maskUrl }] = await Promise.all([import('../mqtt/publisher.js'), import('../config/load.js')]);
  const publisher = new Publisher({ config: config.mqtt, log, clientIdSuffix: `-replay-${process.pid}`, status: false });
  const ms = config.mqtt.publish_timeout * 1000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      publisher.connect(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no connection within ${config.mqtt.publish_timeout}s (mqtt.publish_timeout)`)), ms);
      }),
    ]);
    return publisher;
  } catch (err) {
    const url = maskUrl(config.mqtt.url);
    log.error({ err, url }, `cannot connect to the MQTT broker ${url}: ${errorReason(err)}`);
    await publisher.close().catch(() => undefined);
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
