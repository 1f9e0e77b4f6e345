/**
 * The generator process: forked by the orchestrator (src/main.ts), it receives its plan as the
 * first IPC message, reports windows and the final totals over IPC, and exits by itself (when the
 * plan is done, when the parent goes away, or when its time budget is exceeded).
 */
import { runGenerator } from './generator.ts';
import type { GeneratorMessage, GeneratorPlan } from './protocol.ts';

if (!process.send) {
  process.stderr.write('generator-main.ts is started by the loadtest orchestrator (IPC channel needed)\n');
  process.exit(2);
}
const send = (m: GeneratorMessage) => process.send?.(m);
process.on('disconnect', () => process.exit(3));
process.once('message', (m: { type: 'start'; plan: GeneratorPlan }) => {
  const budget = m.plan.schedule.reduce((s, x) => s + x.durationMs, 0) + 15 * 60_000;
  setTimeout(() => {
    send({ type: 'error', message: `generator exceeded its time budget (${Math.round(budget / 1000)} s)` });
    process.exit(4);
  }, budget).unref();
  runGenerator(m.plan, send).then(
    (done) => {
      send(done);
      process.disconnect();
    },
    (err: unknown) => {
      send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      process.exitCode = 1;
      process.disconnect();
    },
  );
});
