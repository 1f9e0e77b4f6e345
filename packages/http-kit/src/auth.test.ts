import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { createTokenService, TOKEN_AUDIENCE, TOKEN_ISSUER, type Principal } from './auth.ts';
import { HttpProblem } from './problem.ts';

const secret = 'a-secret-of-at-least-thirty-two-bytes!!';
const trader: Principal = { userId: 42, username: 'alice', roles: ['trader'] };

function fixedClock(iso: string) {
  let now = new Date(iso);
  return { now: () => now, set: (next: string) => (now = new Date(next)) };
}

function rejects(fn: () => unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(HttpProblem);
  expect((thrown as HttpProblem).status).toBe(401);
}

describe('createTokenService', () => {
  it('verifies the tokens it issues, expiring them by the injected clock', () => {
    const clock = fixedClock('2026-11-27T12:00:00Z');
    const tokens = createTokenService({ secret, clock, ttlSeconds: 60 });
    const { token, expiresAt } = tokens.issue(trader);
    expect(expiresAt).toBe('2026-11-27T12:01:00.000Z');
    expect(tokens.verify(token)).toEqual(trader);
    clock.set('2026-11-27T12:01:00Z');
    rejects(() => tokens.verify(token)); // the cached verification expires with the token
  });

  it('accepts HS256 tokens signed with the raw secret bytes, as issued before it kept a KeyObject', () => {
    const clock = fixedClock('2026-11-27T12:00:00Z');
    const iat = Math.floor(clock.now().getTime() / 1000);
    const token = jwt.sign({ name: 'alice', roles: ['trader'], iat, exp: iat + 60 }, Buffer.from(secret, 'utf8'), {
      algorithm: 'HS256',
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      subject: '42',
    });
    expect(createTokenService({ secret, clock }).verify(token)).toEqual(trader);
  });

  it('refuses tokens of another secret, unsigned, tampered, or for another audience', () => {
    const clock = fixedClock('2026-11-27T12:00:00Z');
    const tokens = createTokenService({ secret, clock });
    const other = createTokenService({ secret: 'another-secret-of-thirty-two-bytes-or-more', clock });
    rejects(() => tokens.verify(other.issue(trader).token));

    const iat = Math.floor(clock.now().getTime() / 1000);
    const claims = { name: 'mallory', roles: ['admin'], iat, exp: iat + 60, iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, sub: '1' };
    const unsigned = jwt.sign(claims, '', { algorithm: 'none' });
    rejects(() => tokens.verify(unsigned));

    const [header, , signature] = tokens.issue(trader).token.split('.');
    const forged = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    rejects(() => tokens.verify(forged));

    const elsewhere = jwt.sign({ name: 'alice', roles: ['trader'], iat, exp: iat + 60 }, secret, { algorithm: 'HS256', issuer: TOKEN_ISSUER, audience: 'another-api', subject: '42' });
    rejects(() => tokens.verify(elsewhere));
  });

  it('refuses a secret shorter than 32 bytes', () => {
    expect(() => createTokenService({ secret: 'short', clock: fixedClock('2026-11-27T12:00:00Z') })).toThrow(/at least 32 bytes/);
  });
});
