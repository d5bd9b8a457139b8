/**
 * What every subcommand shares. Kept free of heavy imports: each command loads
 * what it needs (config, parser, MQTT, IMAP) only when it runs, so that
 * `lpmqtt --help` and `lpmqtt replay --dry-run` start fast.
 */
import type { Config } from '../config/schema.js';

export interface ConfigFlag {
  config?: string;
}

/** Loads the configuration for a command (`-c FILE`, else the cosmiconfig search in the working directory). */
export async function configFor(o: ConfigFlag): Promise<{ config: Config; source: string | undefined }> {
  const { loadConfig } = await import('../config/load.js');
  return loadConfig(o.config !== undefined ? { file: o.config } : {});
}

export const CONFIG_HELP = 'config file: YAML, JSON, or the old daemon\'s INI (default: lpmqtt.yaml etc. in the working directory)';
