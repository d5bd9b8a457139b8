/**
 * `lpmqtt check-config [-c FILE]`: validate and print the effective
 * configuration (every default filled in, secrets masked) and where it came
 * from. Exit 0 when valid; an invalid one exits 2 with every problem listed
 * (the CLI prints the ConfigError).
 */
import type { Command } from 'commander';
import { CONFIG_HELP, configFor, type ConfigFlag } from './shared.js';

export function registerCheckConfig(program: Command): Command {
  return program
    .command('check-config')
    .description('validate the configuration and print it, defaults filled in and secrets masked')
    .option('-c, --config <file>', CONFIG_HELP)
    .addHelpText(
      'after',
      `
Exit status: 0 valid, 2 invalid (every problem is listed on stderr, each
naming the file and the key).

Examples:
  lpmqtt check-config
  lpmqtt check-config -c /etc/lpmqtt.conf     # the old daemon's INI file`,
    )
    .action(async (o: ConfigFlag) => {
      const { config, source } = await configFor(o);
      const [{ maskSecrets, SEARCH_PLACES }, { stringify }] = await Promise.all([import('../config/load.js'), import('yaml')]);
      const head =
        source === undefined
          ? `# no config file found in ${process.cwd()} (looked for ${SEARCH_PLACES.join(', ')});\n# these are the built-in defaults\n`
          : `# source: ${source}\n`;
      process.stdout.write(`${head}# configuration is valid; passwords are shown as ***\n${stringify(maskSecrets(config))}`);
      process.exitCode = 0;
    });
}
