/**
 * `pnpm start`: Tradecore single-node mode. Prints the URL and the admin credentials; Ctrl-C (or
 * SIGTERM) stops everything cleanly.
 */
import { ConfigError, loadConfig } from './config.ts';
import { startSystem } from './system.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  const system = await startSystem(config);
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
