/**
 * `lpmqtt parse FILE`: the events one mail turns into, for people. Exit 0
 * when the mail was read (events, foreign or private), 1 when it is invalid or
 * cannot be read.
 */
import type { Command } from 'commander';
import { CONFIG_HELP, configFor, type ConfigFlag } from './shared.js';

export function registerParse(program: Command): Command {
  return program
    .command('parse')
    .description('pretty-print the events of one mail (.eml file, mbox, or - for stdin)')
    .argument('<file>', 'the mail: an .eml file, an mbox (every message is shown), or - for stdin')
    .option('-c, --config <file>', CONFIG_HELP)
    .addHelpText(
      'after',
      `
The topic and payload shown are what \`lpmqtt run\` would publish with this
configuration (base_topic, parse.fanout, parse.max_body_bytes,
parse.private_bugs). Sender verification is not applied here.

Exit status: 0 when the mail was read (events, or not a Launchpad mail, or a
private bug mail that is skipped), 1 when it is invalid or cannot be read.

Examples:
  lpmqtt parse bug-1859713.eml
  lpmqtt parse - < mail.eml`,
    )
    .action(async (file: string, o: ConfigFlag) => {
      const { config } = await configFor(o);
      const [{ parseMail, parseOptionsFromConfig }, { formatOutcome }, { planSources, readSources }] = await Promise.all([
        import('../core/index.js'),
        import('../format.js'),
        import('../replay/sources.js'),
      ]);
      const opts = parseOptionsFromConfig(config);
      const color = process.stdout.isTTY === true && process.env['NO_COLOR'] === undefined;
      let bad = 0;
      let first = true;
      for await (const batch of readSources(await planSources([file]))) {
        for (const item of batch) {
          if (!first) process.stdout.write('\n');
          first = false;
          if (item.kind === 'error') {
            bad += 1;
            process.stderr.write(`lpmqtt parse: ${item.source}: ${item.reason}\n`);
            continue;
          }
          const outcome = parseMail(item.raw, opts);
          if (outcome.kind === 'invalid') bad += 1;
          process.stdout.write(formatOutcome(item.source, outcome, { color }));
        }
      }
      process.exitCode = bad > 0 ? 1 : 0;
    });
}
