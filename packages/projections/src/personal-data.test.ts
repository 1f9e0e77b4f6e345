import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { RecordedEvent } from '@tradecore/event-store';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { createProjector, snapshotReadModels } from './index.ts';
import { referenceFold } from '../test/reference-fold.ts';

let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase('proj_pii');
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

const at = '2026-11-26T12:00:00.000Z';
let position = 0n;
const recorded = (stream: string, type: string, data: unknown): RecordedEvent => {
  position += 1n;
  return {
    eventId: `00000000-0000-4000-8000-${position.toString(16).padStart(12, '0')}`,
    stream,
    type,
    data,
    metadata: { correlationId: 'c', causationId: null, userId: 1, occurredAt: at, schemaVersion: 1 },
    streamRevision: position - 1n,
    globalPosition: position,
    recordedAt: at,
  };
};

describe('users read model and personal data', () => {
  it('shows a placeholder for a sealed username (never the cipher text), and a UserForgotten changes no row', async () => {
    const projector = createProjector({ pool, schema: 'pii', notify: false });
    await projector.migrate();
    const sealed = 'pii:v1:user-2:AAAAAAAAAAAAAAAA:c2VhbGVkLXVzZXJuYW1lLWJ5dGVz';
    const registrations = [
      recorded('users', 'UserRegistered', { userId: 1, username: 'plain_admin', passwordHash: 'scrypt$x', roles: ['trader', 'admin'] }),
      recorded('users', 'UserRegistered', { userId: 2, username: sealed, passwordHash: 'pii:v1:user-2:AAAAAAAAAAAAAAAA:aGFzaA', roles: ['trader'] }),
    ];
    await projector.apply(registrations);
    const before = await snapshotReadModels(pool, 'pii');
    expect(before.users?.map((u) => [u.user_id, u.username])).toEqual([
      ['1', 'plain_admin'],
      ['2', '[personal data]'],
    ]);
    expect(JSON.stringify(before)).not.toContain('pii:v1:');

    // A later batch forgets user 2: the read model holds nothing to forget; only the checkpoint moves.
    const forgotten = recorded('erasures', 'UserForgotten', { userId: 2, reason: 'erasure request', forgottenBy: 1 });
    const result = await projector.apply([forgotten]);
    expect(result.errors).toBe(0);
    expect(await projector.position()).toBe(forgotten.globalPosition);
    const after = await snapshotReadModels(pool, 'pii');
    expect(after.users).toEqual(before.users);

    // The independent reference fold agrees.
    expect(referenceFold([...registrations, forgotten]).tables.users).toEqual(after.users);
  });
});
