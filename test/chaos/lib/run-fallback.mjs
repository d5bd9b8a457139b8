// Stand-in for `node dist/cli.js run` while src/cli.ts does not register the
// `run` subcommand yet: the same registerRun() from dist/commands/run.js under
// a bare commander program, exit code handled like src/cli.ts does.
// daemon.ts uses it only when dist/cli.js has no `run`; it says so on stderr.
import { Command } from 'commander';

const dist = new URL('../../../dist/', import.meta.url);
const { registerRun } = await import(new URL('commands/run.js', dist).href);
const program = new Command('lpmqtt').exitOverride();
registerRun(program, (code) => process.exit(code));
let code = 0;
try {
  await program.parseAsync(process.argv);
  code = typeof process.exitCode === 'number' ? process.exitCode : 0;
} catch (err) {
  process.stderr.write(`lpmqtt: ${err instanceof Error ? err.stack : String(err)}\n`);
  code = err && typeof err === 'object' && 'exitCode' in err ? 2 : 1;
}
process.exit(code);
