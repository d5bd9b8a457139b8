/**
 * `lpmqtt run [-c FILE]`: the daemon in the foreground, logs (pino JSON, or
 * pretty on a terminal) on stdout. SIGTERM/SIGINT stop it cleanly (exit 0); a
 * second signal exits at once (1); a fatal bridge error exits 1.
 */
import type { Command } from 'commander';
import { errorReason } from '../errors.js';
import { CONFIG_HELP, configFor, type ConfigFlag } from './shared.js';

/** Ends the process at once (second signal). Injected by the CLI, the only caller of process.exit. */
export type ExitNow = (code: number) => never;

export function registerRun(program: Command, exitNow: ExitNow): Command {
  return program
    .command('run')
    .description('the daemon: IMAP IDLE on the mailbox, publish to MQTT, mark the mail (foreground, logs to stdout)')
    .option('-c, --config <file>', CONFIG_HELP)
    .addHelpText(
      'after',
      `
Stops cleanly on SIGTERM or SIGINT (Ctrl-C): in-flight mail is finished or
left unmarked, the retained status becomes "offline". A second signal exits
at once.

Exit status: 0 stopped by a signal, 1 the bridge could not go on (broker
refused the credentials, mailbox missing, ...), 2 invalid configuration.

Examples:
  lpmqtt run                          # lpmqtt.yaml in the working directory
  lpmqtt run -c /etc/lpmqtt.conf      # the old daemon's INI file still works`,
    )
    .action(async (o: ConfigFlag) => {
      process.exitCode = await runDaemon(o, exitNow);
    });
}

async function runDaemon(o: ConfigFlag, exitNow: ExitNow): Promise<number> {
  const { config, source } = await configFor(o);
  const [{ createLogger }, { Bridge }, { startOps }] = await Promise.all([
    import('../log.js'),
    import('../bridge.js'),
    import('../ops.js'),
  ]);
  const log = createLogger({ level: config.log.level, fd: 1 });
  log.info({ config: source ?? '(built-in defaults)', pid: process.pid }, 'lpmqtt starting');
  let verifier;
  if (config.verify.dkim || config.verify.authserv_id !== undefined) {
    const { createVerifier } = await import('../verify.js');
    verifier = createVerifier(config.verify, { log: log.child({ component: 'verify' }) });
  }
  const bridge = new Bridge({ config, log, verifier });
  let ops: Awaited<ReturnType<typeof startOps>>;
  try {
    ops = await startOps(bridge, { config, log });
  } catch (err) {
    log.fatal({ err }, `cannot start: ${errorReason(err)}`);
    log.flush();
    return 1;
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (code: number, why: string): void => {
      if (stopping) return;
      stopping = true;
      (async () => {
        await ops.stopping(why);
        await bridge.stop();
      })()
        .then(
          () => code,
          (err: unknown) => {
            log.error({ err }, `stop failed: ${errorReason(err)}`);
            return 1;
          },
        )
        .then(async (result) => {
          await ops.close().catch((err: unknown) => log.warn({ err }, 'closing metrics/systemd failed'));
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          log.flush();
          resolve(result);
        }, () => resolve(1));
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        log.flush();
        exitNow(1);
      }
      log.info({ signal }, 'signal received, stopping');
      stop(0, signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    bridge.on('fatal', (err) => {
      log.fatal({ err }, `cannot go on: ${errorReason(err)}`);
      stop(1, 'fatal error');
    });
    bridge.start().then(
      () => log.info('running'),
      (err: unknown) => {
        log.fatal({ err }, `start failed: ${errorReason(err)}`);
        stop(1, 'start failed');
      },
    );
  });
}
