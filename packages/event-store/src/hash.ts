/**
 * Tamper evidence: per-stream hash chains and seals over global position ranges.
 * See docs/event-store.md for the design. The PostgreSQL adapter computes the same values inside
 * its append function and its sealer (SQL sha256); these are the reference definitions the
 * verifier uses, and tests pin the two together.
 */
import { createHash } from 'node:crypto';
import { canonicalize } from './canonical-json.ts';

/** The "previous hash" of revision 0 of every stream, and the previous hash of seal 1. */
export const GENESIS_HASH: Buffer = Buffer.alloc(32);

export const SEAL_DOMAIN = 'tradecore.seal.v1';

export interface HashedEventContent {
  stream: string;
  streamRevision: bigint;
  eventId: string;
  type: string;
  data: unknown;
  metadata: unknown;
}

/**
 * RFC 8785 canonical JSON of {stream, streamRevision, eventId, type, data, metadata}. Built from
 * canonical parts so that revisions above 2^53 stay exact; for every real revision it is identical
 * to `canonicalize({...})` of the object (a test pins this).
 */
export function canonicalEventJson(e: HashedEventContent): string {
  return canonicalEventJsonFromParts(
    canonicalize(e.data),
    e.eventId,
    canonicalize(e.metadata),
    JSON.stringify(e.stream),
    e.streamRevision,
    JSON.stringify(e.type),
  );
}

/** Same as canonicalEventJson, from already canonical parts (the append path uses it). */
export function canonicalEventJsonFromParts(
  dataJson: string,
  eventId: string,
  metadataJson: string,
  streamJson: string,
  streamRevision: bigint,
  typeJson: string,
): string {
  return (
    `{"data":${dataJson},"eventId":${JSON.stringify(eventId)},"metadata":${metadataJson},` +
    `"stream":${streamJson},"streamRevision":${streamRevision.toString()},"type":${typeJson}}`
  );
}

/** eventHash = SHA-256(previous event's hash in the same stream ‖ UTF-8(canonical JSON)). */
export function eventHash(previousHash: Uint8Array, canonicalJson: string): Buffer {
  return createHash('sha256').update(previousHash).update(canonicalJson, 'utf8').digest();
}

export function hashEvent(previousHash: Uint8Array, e: HashedEventContent): Buffer {
  return eventHash(previousHash, canonicalEventJson(e));
}

/** One manifest entry: 8-byte big-endian global position ‖ 32-byte event hash. */
export const MANIFEST_ENTRY_BYTES = 40;

export function manifestEntry(globalPosition: bigint, hash: Uint8Array): Buffer {
  const b = Buffer.alloc(MANIFEST_ENTRY_BYTES);
  b.writeBigInt64BE(globalPosition, 0);
  Buffer.from(hash).copy(b, 8);
  return b;
}

export function* manifestEntries(manifest: Buffer): Generator<{ position: bigint; hash: Buffer }> {
  for (let off = 0; off + MANIFEST_ENTRY_BYTES <= manifest.length; off += MANIFEST_ENTRY_BYTES) {
    yield {
      position: manifest.readBigInt64BE(off),
      hash: manifest.subarray(off + 8, off + MANIFEST_ENTRY_BYTES),
    };
  }
}

/**
 * sealHash = SHA-256("tradecore.seal.v1" ‖ be64(sealId) ‖ be64(fromPosition) ‖ be64(toPosition)
 *            ‖ previous seal's hash ‖ manifest), where the manifest is the ordered
 *            (globalPosition, eventHash) pairs of the events in (fromPosition, toPosition].
 */
export function sealHash(
  sealId: bigint,
  fromPosition: bigint,
  toPosition: bigint,
  previousSealHash: Uint8Array,
  manifest: Uint8Array,
): Buffer {
  const header = Buffer.alloc(24);
  header.writeBigInt64BE(sealId, 0);
  header.writeBigInt64BE(fromPosition, 8);
  header.writeBigInt64BE(toPosition, 16);
  return createHash('sha256')
    .update(SEAL_DOMAIN, 'utf8')
    .update(header)
    .update(previousSealHash)
    .update(manifest)
    .digest();
}
