/**
 * Parse options from the configuration. The defaults come from the one
 * config schema, so they cannot drift from what `check-config` prints.
 */
import { mqttSchema, parseSchema } from '../config/schema.js';
import type { ParseOptions } from './types.js';

/** The parse-relevant part of the configuration. */
export interface ParseConfig {
  mqtt: { base_topic: string };
  parse: { fanout: 'all' | 'first'; max_body_bytes: number; private_bugs: 'skip' | 'publish' };
}

/** ParseOptions for a (validated) configuration. */
export function parseOptionsFromConfig(config: ParseConfig): ParseOptions {
  return {
    baseTopic: config.mqtt.base_topic,
    fanout: config.parse.fanout,
    maxBodyBytes: config.parse.max_body_bytes,
    privateBugs: config.parse.private_bugs,
  };
}

/** `launchpad`, `all`, 65536, `skip`: the schema defaults. */
export const DEFAULT_PARSE_OPTIONS: Readonly<ParseOptions> = Object.freeze(
  parseOptionsFromConfig({ mqtt: mqttSchema.parse({}), parse: parseSchema.parse({}) }),
);
