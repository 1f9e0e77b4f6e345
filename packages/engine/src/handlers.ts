import type { HandlerDeps, HandlerName } from './handler-deps.ts';
import type { InboxHandler } from './inbox.ts';
import type { EngineMetrics } from './observability.ts';
import { createExecutionHandler } from './execution-handler.ts';
import { createRiskHandler } from './risk-handler.ts';

export type { HandlerDeps, HandlerName, HandlerTuning } from './handler-deps.ts';

export function createHandler(name: HandlerName, deps: HandlerDeps): InboxHandler {
  switch (name) {
    case 'risk':
      return measured(createRiskHandler(deps), deps.metrics);
    case 'execution':
      return measured(createExecutionHandler(deps, { snapshots: deps.snapshots, snapshotEvery: deps.tuning?.snapshotEvery }), deps.metrics);
  }
}

/**
 * The hop's latency, whichever host feeds the handler: how old each input is when its handler
 * starts on it (relay, broker and queueing since it was recorded), and how long the batch takes.
 */
function measured(handler: InboxHandler, metrics: EngineMetrics): InboxHandler {
  const inputAge = metrics.inputAgeSeconds.labels(handler.name);
  const batchSeconds = metrics.handlerBatchSeconds.labels(handler.name);
  return {
    name: handler.name,
    inbox: handler.inbox,
    async handle(partition, inputs) {
      const now = Date.now();
      for (const input of inputs) {
        const recordedAt = input.event ? Date.parse(input.event.recordedAt) : Number.NaN;
        if (Number.isFinite(recordedAt)) inputAge.observe(Math.max(0, now - recordedAt) / 1000);
      }
      const end = batchSeconds.startTimer();
      try {
        await handler.handle(partition, inputs);
      } finally {
        end();
      }
    },
    assigned: (partitions) => handler.assigned(partitions),
    revoked: () => handler.revoked(),
  };
}

export function createHandlers(names: readonly HandlerName[], deps: HandlerDeps): InboxHandler[] {
  return [...new Set(names)].map((n) => createHandler(n, deps));
}
