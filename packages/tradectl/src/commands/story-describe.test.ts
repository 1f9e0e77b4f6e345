import { describe as suite, expect, it } from 'vitest';
import type { RecordedEvent } from '@tradecore/event-store';
import { describe } from './story.ts';

const recorded = (type: string, data: unknown): RecordedEvent => ({
  eventId: '00000000-0000-4000-8000-000000000001',
  stream: type === 'UserForgotten' ? 'erasures' : 'users',
  type,
  data,
  metadata: { correlationId: 'c', causationId: null, userId: 1, occurredAt: '2026-11-26T12:00:00.000Z', schemaVersion: 1 },
  streamRevision: 0n,
  globalPosition: 1n,
  recordedAt: '2026-11-26T12:00:00.000Z',
});

suite('story lines about personal data', () => {
  it('names a forgotten user, who forgot them and why', () => {
    expect(describe(recorded('UserForgotten', { userId: 7, reason: 'erasure request 42', forgottenBy: 1 }))).toBe(
      'user 7 forgotten by user 1 (data key shredded; personal fields unreadable): erasure request 42',
    );
  });

  it('shows a placeholder for a sealed username, never the cipher text; plain usernames as they are', () => {
    const sealed = describe(recorded('UserRegistered', { userId: 7, username: 'pii:v1:user-7:aXY:c2VhbGVk', passwordHash: 'pii:v1:user-7:aXY:aGFzaA', roles: ['trader'] }));
    expect(sealed).toBe('user 7 registered as [personal data] (trader)');
    expect(describe(recorded('UserRegistered', { userId: 8, username: 'plain_bob', passwordHash: 'x', roles: ['trader', 'admin'] }))).toBe('user 8 registered as plain_bob (trader, admin)');
  });
});
