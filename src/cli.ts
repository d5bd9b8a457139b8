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
import { Command, CommanderError } from 'commander';
import { ConfigError, UsageError, errorReason } from './errors.js';
import { registerCheckConfig } from './commands/check-config.js';
import { registerParse } from './commands/parse.js';
import { registerReplay } from './commands/replay.js';

/** Every subcommand, in the order `--help` lists them. A new one is one more line here. */
const COMMANDS: ReadonlyArray<(program: Command) => Command> = [
  registerReplay,
  registerParse,
  registerCheckConfig,
];

function version(): string {
  // src/cli.ts and dist/cli.js both sit one level below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

function buildProgram(): Command {
  const program = new Command('lpmqtt')
    .description('Bridge Launchpad notification mail (IMAP IDLE) to MQTT firehose events')
    .version(version(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help (also: lpmqtt help COMMAND)')
    // Subcommands inherit these (they are copied when .command() creates them).
    .exitOverride()
    .showHelpAfterError('(see lpmqtt --help)')
    .configureHelp({ sortSubcommands: false });
  for (const register of COMMANDS) register(program);
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
  const program = buildProgram();
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

const code = await main(process.argv);
process.exit(code);
