import type { HandlerDeps, HandlerName } from './handler-deps.ts';
import type { InboxHandler } from './inbox.ts';
import { createExecutionHandler } from './execution-handler.ts';
import { createRiskHandler } from './risk-handler.ts';

export type { HandlerDeps, HandlerName, HandlerTuning } from './handler-deps.ts';

export function createHandler(name: HandlerName, deps: HandlerDeps): InboxHandler {
  switch (name) {
    case 'risk':
      return createRiskHandler(deps);
    case 'execution':
      return createExecutionHandler(deps, { snapshots: deps.snapshots, snapshotEvery: deps.tuning?.snapshotEvery });
  }
}

export function createHandlers(names: readonly HandlerName[], deps: HandlerDeps): InboxHandler[] {
  return [...new Set(names)].map((n) => createHandler(n, deps));
}
