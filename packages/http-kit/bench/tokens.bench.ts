/**
 * What issuing and verifying one bearer token costs: the token service as the APIs use it
 * (createTokenService, verify cache bypassed by fresh tokens) against jsonwebtoken given the raw
 * secret bytes, which is what the service did before it kept a KeyObject.
 * Last line: RESULT {json} (µs per call, best of 3 rounds).
 */
import jwt from 'jsonwebtoken';
import { createTokenService, TOKEN_AUDIENCE, TOKEN_ISSUER } from '../src/auth.ts';

const N = Number(process.env.BENCH_TOKENS ?? 3_000);
const secret = Buffer.alloc(32, 7);
const clock = { now: () => new Date(Date.UTC(2026, 10, 27, 12)) };
const service = createTokenService({ secret, clock });

function perCall(fn: (i: number) => void): number {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) fn(i);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1_000 / N);
  }
  return Math.round(best * 10) / 10;
}

// Distinct tokens (distinct users), so that every verify misses the service's cache.
const tokens = Array.from({ length: N }, (_, i) => service.issue({ userId: i + 1, username: `u${i + 1}`, roles: ['trader'] }).token);
const issueUs = perCall((i) => service.issue({ userId: i + 1, username: `u${i + 1}`, roles: ['trader'] }));
let fresh = createTokenService({ secret, clock });
const verifyUs = perCall((i) => {
  if (i === 0) fresh = createTokenService({ secret, clock });
  fresh.verify(tokens[i]!);
});
const cachedUs = perCall((i) => service.verify(tokens[i % 100]!));
const options = { algorithms: ['HS256' as const], issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, clockTimestamp: Math.floor(clock.now().getTime() / 1000) };
const rawBytesVerifyUs = perCall((i) => jwt.verify(tokens[i]!, secret, options));

console.log(`issue ${issueUs} µs, verify (cache miss) ${verifyUs} µs, verify (cached) ${cachedUs} µs; jsonwebtoken with the raw secret bytes: verify ${rawBytesVerifyUs} µs`);
console.log(`RESULT ${JSON.stringify({ bench: 'tokens', calls: N, issueUs, verifyUs, cachedVerifyUs: cachedUs, rawSecretVerifyUs: rawBytesVerifyUs })}`);
