import { randomUUID } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { nameUuid, uuidNamespace } from '../src/name-uuid.ts';
import { ORDER_ID_NAMESPACE } from '../src/routes/orders.ts';

describe('nameUuid', () => {
  it("derives exactly the ids the uuid package's v5 derived (ids stored before must keep matching)", () => {
    const ns = uuidNamespace(ORDER_ID_NAMESPACE);
    const names = [
      '',
      '17:my-key',
      `${randomUUID()}:placed:${'a'.repeat(64)}`,
      'deposit:3:!~key',
      'non-ASCII: é € 𝄞',
      'x'.repeat(10_000),
      ...Array.from({ length: 200 }, (_, i) => `${i}:${randomUUID()}`),
    ];
    for (const name of names) expect(nameUuid(name, ns)).toBe(uuidv5(name, ORDER_ID_NAMESPACE));
    // A published vector (v5 of "hello" in the DNS namespace), independent of both implementations.
    expect(nameUuid('hello', uuidNamespace('6ba7b810-9dad-11d1-80b4-00c04fd430c8'))).toBe('9342d47a-1bab-5709-9869-c840b2eac501');
  });

  it('refuses a namespace that is not a UUID', () => {
    expect(() => uuidNamespace('not-a-uuid')).toThrow(TypeError);
  });
});
