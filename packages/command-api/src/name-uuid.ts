/**
 * Name-based UUIDs (RFC 9562 version 5: SHA-1 of namespace ‖ name), the ids command-api derives
 * from idempotency keys and request hashes. Byte for byte what the `uuid` package's v5() returns
 * (a test pins them together: ids derived before this module existed must not change, or a
 * retried request would no longer find its first result). node:crypto's one-shot hash does it in
 * a fraction of uuid's time, which converts strings to byte arrays in JavaScript; the order route
 * derives one or two per request.
 */
import { hash } from 'node:crypto';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A namespace's 16 bytes, for `nameUuid`. */
export function uuidNamespace(namespace: string): Buffer {
  if (!UUID.test(namespace)) throw new TypeError(`not a UUID: ${namespace}`);
  return Buffer.from(namespace.replace(/-/g, ''), 'hex');
}

export function nameUuid(name: string, namespace: Buffer): string {
  const digest = hash('sha1', Buffer.concat([namespace, Buffer.from(name, 'utf8')]), 'buffer');
  digest[6] = ((digest[6] ?? 0) & 0x0f) | 0x50;
  digest[8] = ((digest[8] ?? 0) & 0x3f) | 0x80;
  const hex = digest.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
