#!/usr/bin/env node
/** The tradectl process: argv in, exit code out. SIGINT/SIGTERM end `--follow` cleanly. */
import { run } from './cli.ts';

const controller = new AbortController();
let interrupted = 0;
const onSignal = (): void => {
  interrupted++;
  if (interrupted > 1) process.exit(130);
  controller.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  // `tradectl events | head`: the reader went away.
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const code = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal });
process.exitCode = code;
// Open handles (pools) are closed by run(); exit promptly all the same, once stdout is flushed.
process.stdout.write('', () => process.exit(code));
