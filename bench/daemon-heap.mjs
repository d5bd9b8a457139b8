// Starts `lpmqtt run` with V8's heap flags set before anything loads (src/cli.ts sets the same ones for `run`, just after commander loads): with the heap kept
// tight for a long-running daemon, set before any module is loaded (the young
// generation cannot shrink once module loading has grown it).
//   node bench/daemon-heap.mjs dist/cli.js run -c FILE
import v8 from 'node:v8';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

// No growth of the young generation past its start size (1 MB semi-spaces);
// old generation limit 1.2 × live instead of V8's up-to-4 × after a GC.
v8.setFlagsFromString('--semi-space-growth-factor=1');
v8.setFlagsFromString('--heap-growing-percent=20');
process.argv.splice(1, 1); // the CLI sees itself as argv[1], as when started directly
await import(pathToFileURL(resolve(process.argv[1] ?? 'dist/cli.js')).href);
