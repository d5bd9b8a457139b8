/**
 * `lpmqtt check-config [-c FILE]`: validate and print the effective
 * configuration (every default filled in, secrets masked) and where it came
 * from. Exit 0 when valid, 1 when not (SPEC §6: validating is this command's
 * job, so an invalid file is its negative answer, as with `nginx -t`), every
 * problem listed on stderr; 2 stays for bad usage.
 */
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { CONFIG_HELP, configFor, type ConfigFlag } from './shared.js';

export function registerCheckConfig(program: Command): Command {
  return program
    .command('check-config')
    .description('validate the configuration and print it, defaults filled in and secrets masked')
    .option('-c, --config <file>', CONFIG_HELP)
    .addHelpText(
      'after',
      `
Exit status: 0 valid, 1 invalid (every problem is listed on stderr, each
naming the file and the key), 2 bad usage.

Examples:
  lpmqtt check-config
  lpmqtt check-config -c /etc/lpmqtt.conf     # the old daemon's INI file`,
    )
    .action(async (o: ConfigFlag) => {
      let loaded: Awaited<ReturnType<typeof configFor>>;
      try {
        loaded = await configFor(o);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        process.stderr.write(`lpmqtt: ${err.message}\n`);
        process.exitCode = 1;
        return;
      }
      const { config, source } = loaded;
      const [{ maskSecrets, SEARCH_PLACES }, { stringify }] = await Promise.all([import('../config/load.js'), import('yaml')]);
      const head =
        source === undefined
          ? `# no config file found in ${process.cwd()} (looked for ${SEARCH_PLACES.join(', ')});\n# these are the built-in defaults\n`
          : `# source: ${source}\n`;
      process.stdout.write(`${head}# configuration is valid; passwords are shown as ***\n${stringify(maskSecrets(config))}`);
      process.exitCode = 0;
    });
}
