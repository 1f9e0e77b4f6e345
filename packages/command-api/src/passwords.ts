/**
 * Password hashing with scrypt at OWASP's parameters (N=2^14, r=8, p=5: 16 MiB, the cost-equivalent
 * of N=2^17,p=1 with less memory per login). Verification of an unknown user runs against a dummy
 * hash so that "no such user" and "wrong password" take similar time and answer the same.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const PARAMS = { N: 2 ** 14, r: 8, p: 5, maxmem: 64 * 1024 * 1024 } as const;
const KEY_LENGTH = 32;

function scrypt(password: string, salt: Buffer, params: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password.normalize('NFKC'), salt, KEY_LENGTH, params, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, encoded: string | undefined): Promise<boolean>;
}

/** Encoded as `scrypt$N$r$p$salt$hash` (base64url) so parameters can be raised later. */
export function createScryptHasher(params: { N: number; r: number; p: number } = PARAMS): PasswordHasher {
  const options = { N: params.N, r: params.r, p: params.p, maxmem: PARAMS.maxmem };
  let dummy: Promise<string> | undefined;
  const hash = async (password: string) => {
    const salt = randomBytes(16);
    const key = await scrypt(password, salt, options);
    return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join('$');
  };
  return {
    hash,
    async verify(password, encoded) {
      dummy ??= hash(randomBytes(16).toString('hex'));
      const target = encoded ?? (await dummy);
      const parts = target.split('$');
      if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
      const [, n, r, p, salt, expected] = parts as [string, string, string, string, string, string];
      const key = await scrypt(password, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p), maxmem: PARAMS.maxmem });
      const want = Buffer.from(expected, 'base64url');
      const ok = want.length === key.length && timingSafeEqual(want, key);
      return ok && encoded !== undefined;
    },
  };
}
