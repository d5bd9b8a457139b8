#!/usr/bin/env node
/**
 * The `lpmqtt` command (SPEC §6). Only this file calls process.exit.
 *
 * Exit codes: 0 success, 1 runtime failure (some mail could not be
 * processed, the daemon could not go on), 2 bad usage or invalid
 * configuration. Each subcommand lives in src/commands/<name>.ts as a
 * `registerX(program)` function whose action sets `process.exitCode`; heavy
 * modules are imported inside the actions so start-up stays fast.
 */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { Command, CommanderError } from 'commander';
import { ConfigError, UsageError, errorReason } from './errors.js';

type Register = (program: Command) => Command;

/**
 * Every subcommand, in the order `--help` lists them; a new one is one more
 * line here. Each is loaded only when it is the one asked for (or for the
 * overall help), so one command's imports never slow down another's start.
 */
const COMMANDS: ReadonlyArray<readonly [name: string, load: () => Promise<Register>]> = [
  ['run', async () => {
    const { registerRun } = await import('./commands/run.js');
    return (program) => registerRun(program, (code) => process.exit(code));
  }],
  ['replay', async () => (await import('./commands/replay.js')).registerReplay],
  ['parse', async () => (await import('./commands/parse.js')).registerParse],
  ['check-config', async () => (await import('./commands/check-config.js')).registerCheckConfig],
  ['watch', async () => (await import('./commands/watch.js')).registerWatch],
];

/** The subcommand named on the command line: the first argument that is not an option. */
function commandOf(argv: readonly string[]): string | undefined {
  return argv.slice(2).find((a) => !a.startsWith('-'));
}

function version(): string {
  // src/cli.ts and dist/cli.js both sit one level below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

async function buildProgram(argv: readonly string[]): Promise<Command> {
  const program = new Command('lpmqtt')
    .description('Bridge Launchpad notification mail (IMAP IDLE) to MQTT firehose events')
    .version(version(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help (also: lpmqtt help COMMAND)')
    // Subcommands inherit these (they are copied when .command() creates them).
    .exitOverride()
    .showHelpAfterError('(see lpmqtt --help)')
    .configureHelp({ sortSubcommands: false });
  const asked = commandOf(argv);
  const known = COMMANDS.some(([name]) => name === asked);
  const versionOnly = asked === undefined && argv.slice(2).some((a) => a === '-V' || a === '--version');
  for (const [name, load] of COMMANDS) {
    // An unknown name (a typo, `help`) or none loads them all, for the help text and suggestions.
    if (versionOnly) break;
    if (!known || name === asked) (await load())(program);
  }
  program.addHelpText(
    'after',
    `
Configuration: lpmqtt.yaml (or .lpmqttrc, .lpmqttrc.{yaml,yml,json},
lpmqtt.config.json) in the working directory, or -c FILE; -c also takes the
old Python daemon's INI file (/etc/lpmqtt.conf). Secrets may come from
LPMQTT_IMAP_PASSWORD / LPMQTT_MQTT_PASSWORD or *.password_file.

Exit status: 0 ok, 1 runtime failure (some mail could not be processed),
2 bad usage or invalid configuration.

Examples:
  lpmqtt check-config                      # what would run, secrets masked
  lpmqtt run -c /etc/lpmqtt.yaml           # the daemon (logs to stdout)
  lpmqtt replay --dry-run mails/ | jq .topic
  lpmqtt parse bug-mail.eml`,
  );
  return program;
}

async function main(argv: readonly string[]): Promise<number> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end with exit code 0; every usage error with 2.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`lpmqtt: ${err.message}\n`);
      return 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`lpmqtt: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`lpmqtt: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : errorReason(err)}\n`);
    return 1;
  }
}

// The daemon runs for months: keep V8's heap tight before its modules load
// (the young generation never shrinks once grown). Measured draining a
// 20,000-mail backlog: peak RSS 203–235 MB without, 99–118 MB with; the drain
// gets slower, which live mail at Launchpad's rate never notices.
if (commandOf(process.argv) === 'run') {
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString('--heap-growing-percent=20');
}
// Replay streams archives of any size: an old generation allowed to grow to
// 1.2 × live (not V8's up to 4 ×) keeps a 50,000-mail mbox at ~130 MB instead
// of ~175 MB, at no cost in speed (a young generation kept small would cost some).
if (commandOf(process.argv) === 'replay') setFlagsFromString('--heap-growing-percent=20');

const code = await main(process.argv);
process.exit(code);
