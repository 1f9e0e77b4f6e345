/**
 * Runs a vitest describe block with a resource, or shows why it cannot: the reason is printed
 * (console.warn) and a skipped test carrying it is registered, so the skip shows in every report.
 *
 *   describeWith(getKafka(), 'relay publishes in order', (kafka) => { it(...); });
 */
import { describe, it } from 'vitest';
import { isSkip, type Skip } from './skip.ts';

export function skipTitle(name: string, reason: string): string {
  return `${name} [skipped: ${reason}]`;
}

export function describeWith<R extends object>(
  resource: R | Skip | Promise<R | Skip> | (() => Promise<R | Skip>),
  name: string,
  fn: (resource: R) => void,
): void {
  describe(name, async () => {
    const value = await (typeof resource === 'function' ? resource() : resource);
    if (isSkip(value)) {
      console.warn(`[testkit] skipping "${name}": ${value.skip}`);
      it.skip(skipTitle(name, value.skip), () => undefined);
      return;
    }
    fn(value);
  });
}
