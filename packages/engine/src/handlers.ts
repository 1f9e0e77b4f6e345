import type { HandlerDeps, HandlerName } from './handler-deps.ts';
import type { InboxHandler } from './inbox.ts';
import { createRiskHandler } from './risk-handler.ts';

export type { HandlerDeps, HandlerName, HandlerTuning } from './handler-deps.ts';

export function createHandler(name: HandlerName, deps: HandlerDeps): InboxHandler {
  switch (name) {
    case 'risk':
      return createRiskHandler(deps);
  }
}

export function createHandlers(names: readonly HandlerName[], deps: HandlerDeps): InboxHandler[] {
  return [...new Set(names)].map((n) => createHandler(n, deps));
}
