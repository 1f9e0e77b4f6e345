/**
 * Crypto-shredding for personal data in the event log.
 *
 * Each subject (a user) has its own 256-bit data key; personal fields are sealed with AES-256-GCM
 * under it before they are appended, so the log only ever holds ciphertext. Data keys are stored
 * wrapped (AES-256-GCM) under a master key from a key file or the environment. Deleting a
 * subject's data key forgets the person: their sealed fields can no longer be opened, while the
 * events, their hashes and the hash chains stay exactly as they were, so the log still verifies.
 *
 * Sealed format: `pii:v1:<subject>:<iv b64url>:<ciphertext||tag b64url>`; the subject and the
 * field name are bound as additional authenticated data, so a sealed value cannot be moved to
 * another user or another field unnoticed.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type pg from 'pg';

const PREFIX = 'pii:v1:';
const SUBJECT = /^[A-Za-z0-9_.-]{1,64}$/;

export interface MasterKey {
  /** Identifier recorded beside each wrapped key, so keys can be rotated. */
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

export interface Vault {
  /** Seals `plaintext` for `subject` (creating the subject's data key on first use). */
  seal(subject: string, field: string, plaintext: string): Promise<string>;
  /** Opens a sealed value; null when the subject was shredded. Plain values pass through. */
  open(field: string, value: string): Promise<string | null>;
  /** Forgets the subject: deletes its data key. Idempotent. */
  shred(subject: string): Promise<void>;
  /** Re-wraps every data key under the current master key; returns how many changed. */
  rewrap(): Promise<number>;
}

export function isSealed(value: string): boolean {
  return value.startsWith(PREFIX);
}

function gcmEncrypt(key: Buffer, plaintext: Buffer, aad: string): { iv: Buffer; sealed: Buffer } {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, sealed: Buffer.concat([ct, cipher.getAuthTag()]) };
}

function gcmDecrypt(key: Buffer, iv: Buffer, sealed: Buffer, aad: string): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
}

export class VaultError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VaultError';
  }
}

/**
 * Master keys from the environment: TRADECORE_MASTER_KEY (base64, 32 bytes) with optional
 * TRADECORE_MASTER_KEY_ID, plus TRADECORE_PREVIOUS_MASTER_KEYS="id:base64,..." during rotation.
 */
export function masterKeysFromEnv(env: NodeJS.ProcessEnv = process.env): { current: MasterKey; previous: MasterKey[] } | null {
  if (!env.TRADECORE_MASTER_KEY) return null;
  const parse = (id: string, b64: string): MasterKey => {
    const key = Buffer.from(b64, 'base64');
    if (key.length !== 32) throw new VaultError(`master key ${id} must be 32 bytes of base64`);
    return { id, key };
  };
  const previous = (env.TRADECORE_PREVIOUS_MASTER_KEYS ?? '')
    .split(',')
    .filter(Boolean)
    .map((pair) => {
      const [id, b64] = pair.split(':');
      if (!id || !b64) throw new VaultError('TRADECORE_PREVIOUS_MASTER_KEYS is id:base64,...');
      return parse(id, b64);
    });
  return { current: parse(env.TRADECORE_MASTER_KEY_ID ?? 'k1', env.TRADECORE_MASTER_KEY), previous };
}

export function createPostgresVault(options: { pool: pg.Pool; schema?: string; current: MasterKey; previous?: MasterKey[] }): Vault {
  const schema = options.schema ?? 'vault';
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new VaultError(`bad schema name ${schema}`);
  const masters = new Map<string, Buffer>([[options.current.id, options.current.key], ...(options.previous ?? []).map((k) => [k.id, k.key] as [string, Buffer])]);
  for (const [id, key] of masters) if (key.length !== 32) throw new VaultError(`master key ${id} must be 32 bytes`);
  const table = `"${schema}".subject_keys`;
  const cache = new Map<string, Buffer>();
  let ready: Promise<void> | undefined;
  const migrate = () =>
    (ready ??= (async () => {
      await options.pool.query(`create schema if not exists "${schema}"`);
      await options.pool.query(
        `create table if not exists ${table} (
           subject text primary key,
           master_key_id text not null,
           wrapped_key bytea not null,
           created_at timestamptz not null default now()
         )`,
      );
    })());

  const unwrap = (subject: string, masterId: string, wrapped: Buffer): Buffer => {
    const master = masters.get(masterId);
    if (!master) throw new VaultError(`data key of ${subject} is wrapped under unknown master key ${masterId}`);
    return gcmDecrypt(master, wrapped.subarray(0, 12), wrapped.subarray(12), `key:${subject}`);
  };
  const wrap = (subject: string, dataKey: Buffer): Buffer => {
    const { iv, sealed } = gcmEncrypt(options.current.key, dataKey, `key:${subject}`);
    return Buffer.concat([iv, sealed]);
  };

  async function dataKey(subject: string, create: boolean): Promise<Buffer | null> {
    const cached = cache.get(subject);
    if (cached) return cached;
    await migrate();
    if (create) {
      const fresh = randomBytes(32);
      await options.pool.query(`insert into ${table} (subject, master_key_id, wrapped_key) values ($1, $2, $3) on conflict (subject) do nothing`, [subject, options.current.id, wrap(subject, fresh)]);
    }
    const r = await options.pool.query<{ master_key_id: string; wrapped_key: Buffer }>(`select master_key_id, wrapped_key from ${table} where subject = $1`, [subject]);
    const row = r.rows[0];
    if (!row) return null;
    const key = unwrap(subject, row.master_key_id, row.wrapped_key);
    cache.set(subject, key);
    return key;
  }

  return {
    async seal(subject, field, plaintext) {
      if (!SUBJECT.test(subject)) throw new VaultError(`bad subject ${subject}`);
      const key = await dataKey(subject, true);
      if (!key) throw new VaultError(`no data key for ${subject}`);
      const { iv, sealed } = gcmEncrypt(key, Buffer.from(plaintext, 'utf8'), `${subject}:${field}`);
      return `${PREFIX}${subject}:${iv.toString('base64url')}:${sealed.toString('base64url')}`;
    },
    async open(field, value) {
      if (!isSealed(value)) return value;
      const [subject, iv, sealed] = value.slice(PREFIX.length).split(':');
      if (!subject || !iv || !sealed) throw new VaultError('malformed sealed value');
      const key = await dataKey(subject, false);
      if (!key) return null;
      return gcmDecrypt(key, Buffer.from(iv, 'base64url'), Buffer.from(sealed, 'base64url'), `${subject}:${field}`).toString('utf8');
    },
    async shred(subject) {
      await migrate();
      await options.pool.query(`delete from ${table} where subject = $1`, [subject]);
      cache.delete(subject);
    },
    async rewrap() {
      await migrate();
      const rows = await options.pool.query<{ subject: string; master_key_id: string; wrapped_key: Buffer }>(`select subject, master_key_id, wrapped_key from ${table} where master_key_id <> $1`, [options.current.id]);
      for (const row of rows.rows) {
        const key = unwrap(row.subject, row.master_key_id, row.wrapped_key);
        await options.pool.query(`update ${table} set master_key_id = $2, wrapped_key = $3 where subject = $1 and master_key_id = $4`, [row.subject, options.current.id, wrap(row.subject, key), row.master_key_id]);
      }
      return rows.rows.length;
    },
  };
}
