/**
 * kafkajs 2.2.4 is patched (patches/kafkajs@2.2.4.patch, pnpm patchedDependencies) on the
 * producer's hot path: encoders allocate with Buffer.allocUnsafe (pooled, not zeroed) and are sized
 * for the record, header, batch or request they hold (no doubling copies), varints are written in
 * place (small varlongs without Long arithmetic), CRC32-C is sliced by 8, records are built from
 * the message fields instead of a spread copy, and a send's messages are grouped per partition in
 * place (the original copied the array per message). Consumer side: a record's offset and
 * timestamp are computed as safe integers where they are (not through BigInt per record), and its
 * headers without a spread copy per header. Network: a connection's request queue no longer re-arms
 * a 1 ms check of its (empty) pending queue forever (kafkajs#1556).
 * The broker checks every batch's CRC (the Kafka suites would fail on a wrong one); these tests pin
 * the encodings against reference implementations without a broker, including the growth paths.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const base = require.resolve('kafkajs').replace(/index\.js$/, 'src/');

interface EncoderInstance {
  buffer: Buffer;
  writeVarInt(v: number): EncoderInstance;
  writeUVarInt(v: number): EncoderInstance;
  writeVarLong(v: number): EncoderInstance;
  writeInt32(v: number): EncoderInstance;
  writeVarIntBytes(v: Buffer | string | null): EncoderInstance;
}
const Encoder = require(`${base}protocol/encoder.js`) as new (initialSize?: number) => EncoderInstance;
const EncoderStatics = Encoder as unknown as { sizeOfVarLong(v: number): number };
const crc32C = require(`${base}protocol/recordBatch/crc32C/index.js`) as (b: Buffer) => number;
const Record = require(`${base}protocol/recordBatch/record/v0/index.js`) as (r: {
  offsetDelta?: number;
  timestampDelta?: number;
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, string | Buffer>;
}) => EncoderInstance;
const RecordDecoder = require(`${base}protocol/recordBatch/record/v0/decoder.js`) as (d: unknown, batch: object) => {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
  offset: string;
};
const groupMessagesPerPartition = require(`${base}producer/groupMessagesPerPartition.js`) as (a: {
  topic: string;
  partitionMetadata: unknown[];
  messages: { partition: number; n: number }[];
  partitioner: (a: { message: { partition: number } }) => number;
}) => Record<string, { partition: number; n: number }[]>;
const RecordBatch = (require(`${base}protocol/recordBatch/v0/index.js`) as { RecordBatch: (o: object) => Promise<EncoderInstance> }).RecordBatch;
const decodeRecordBatch = require(`${base}protocol/recordBatch/v0/decoder.js`) as (d: unknown) => Promise<{
  records: { offset: string; timestamp: string; key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer | Buffer[]> }[];
}>;
const Long = require(`${base}utils/long.js`) as { fromValue(v: string | number): unknown };
const Decoder = require(`${base}protocol/decoder.js`) as new (b: Buffer) => { readVarInt(): number; readBytes(n: number): Buffer };

/** Bit-at-a-time CRC32-C (reflected 0x82f63b78). */
function referenceCrc32C(buf: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of buf) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Unsigned LEB128 of a uint32 (what Kafka's varints are after zig-zag). */
function referenceUVarInt(v: number): number[] {
  const out: number[] = [];
  let x = v >>> 0;
  while (x >= 0x80) {
    out.push((x & 0x7f) | 0x80);
    x >>>= 7;
  }
  out.push(x);
  return out;
}

describe('patched kafkajs encoding', () => {
  it('computes CRC32-C like the reference, at every length and alignment', () => {
    expect(crc32C(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32C(Buffer.alloc(0))).toBe(0);
    const pool = randomBytes(5000);
    for (let len = 0; len < 70; len++) for (let off = 0; off < 9; off++) {
      const b = pool.subarray(off, off + len);
      expect(crc32C(b)).toBe(referenceCrc32C(b));
    }
    const big = pool.subarray(3, 4999);
    expect(crc32C(big)).toBe(referenceCrc32C(big));
  });

  it('writes varints in place, growing a full buffer', () => {
    const values = [0, 1, -1, 63, 64, -64, -65, 127, 128, 300, -300, 2 ** 28, -(2 ** 28), 2 ** 31 - 1, -(2 ** 31)];
    for (const v of values) {
      // initial size 1: every write past the first byte grows the buffer
      const e = new Encoder(1).writeInt32(7).writeVarInt(v).writeUVarInt(v >>> 0);
      const zigzag = ((v << 1) ^ (v >> 31)) >>> 0;
      expect([...e.buffer]).toEqual([0, 0, 0, 7, ...referenceUVarInt(zigzag), ...referenceUVarInt(v)]);
    }
    // Varlongs: small values take the 32-bit path, larger ones kafkajs' Long path; both zig-zag 64.
    for (const v of [0, 1, -1, 150, -2, 2 ** 30 - 1, -(2 ** 30), 2 ** 30, -(2 ** 30) - 1, 2 ** 33, -(2 ** 40), 1_700_000_000_123]) {
      const z = (BigInt(v) << 1n) ^ (BigInt(v) < 0n ? -1n : 0n);
      const expected: number[] = [];
      for (let x = BigInt.asUintN(64, z); ; x >>= 7n) {
        if (x < 0x80n) {
          expected.push(Number(x));
          break;
        }
        expected.push(Number((x & 0x7fn) | 0x80n));
      }
      expect([...new Encoder(1).writeVarLong(v).buffer]).toEqual(expected);
      expect(EncoderStatics.sizeOfVarLong(v)).toBe(expected.length);
    }
  });

  it('encodes records (small, large, multi-byte headers) that decode back to what was written', () => {
    for (const size of [0, 10, 511, 512, 700, 5000]) {
      const value = randomBytes(size);
      const headers = { type: 'OrderPlaced', position: '123456789000001', stream: 'order-ü€', eventId: 'ß'.repeat(40) };
      const encoded = Record({ offsetDelta: 3, timestampDelta: 0, key: '42', value, headers }).buffer;
      const d = new Decoder(encoded);
      const length = d.readVarInt();
      expect(length).toBe(encoded.length - referenceUVarInt(length * 2).length);
      const r = RecordDecoder(new Decoder(d.readBytes(length)), { firstOffset: '0', firstTimestamp: '0', magicByte: 2 });
      expect(r.key?.toString()).toBe('42');
      expect(r.value?.equals(value)).toBe(true);
      expect(Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.toString()]))).toEqual(headers);
    }
  });

  it('groups a send\'s messages per partition, in order', () => {
    const messages = Array.from({ length: 2000 }, (_, n) => ({ partition: (n * 7) % 9, n }));
    const grouped = groupMessagesPerPartition({ topic: 't', partitionMetadata: [{}], messages, partitioner: ({ message }) => message.partition });
    expect(Object.keys(grouped)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8']);
    for (const [p, list] of Object.entries(grouped)) expect(list).toEqual(messages.filter((m) => m.partition === Number(p)));
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner: () => 0 })).toEqual({});
  });

  it('decodes offsets, timestamps and headers of a batch (safe-integer and BigInt ranges, repeated headers)', async () => {
    for (const [firstOffset, delta] of [
      ['0', 70],
      ['9007199254740000', 1],
      ['9223372036854775000', 5],
    ] as const) {
      const firstTimestamp = 1_700_000_000_000;
      const records = Array.from({ length: 12 }, (_, i) =>
        Record({ offsetDelta: i, timestampDelta: i * delta * (firstOffset === '0' ? 1 : 2 ** 20), key: String(i), value: Buffer.from(`v${i}`), headers: { type: 'T', dup: i % 2 ? 'x' : 'y' } }),
      );
      const batch = await RecordBatch({ records, firstOffset: Long.fromValue(firstOffset), firstTimestamp, maxTimestamp: firstTimestamp, lastOffsetDelta: 11 });
      const decoded = await decodeRecordBatch(new Decoder(batch.buffer));
      decoded.records.forEach((r, i) => {
        expect(r.offset).toBe((BigInt(firstOffset) + BigInt(i)).toString());
        expect(r.timestamp).toBe((BigInt(firstTimestamp) + BigInt(i * delta * (firstOffset === '0' ? 1 : 2 ** 20))).toString());
        expect(r.key?.toString()).toBe(String(i));
        expect(Object.keys(r.headers)).toEqual(['type', 'dup']);
        expect(String(r.headers.dup)).toBe(i % 2 ? 'x' : 'y');
      });
    }
    // A repeated header key becomes an array, in order.
    const one = await RecordBatch({ records: [Record({ key: null, value: Buffer.from('v'), headers: { a: [Buffer.from('1'), Buffer.from('2'), Buffer.from('3')] } as unknown as Record<string, Buffer> })], firstTimestamp: 0, maxTimestamp: 0 });
    const [r] = (await decodeRecordBatch(new Decoder(one.buffer))).records;
    expect((r!.headers.a as Buffer[]).map(String)).toEqual(['1', '2', '3']);
  });
});

interface RequestQueueInstance {
  pending: unknown[];
  inflight: Map<number, unknown>;
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  push(r: { entry: { correlationId: number; apiName: string; apiKey: number; apiVersion: number; resolve(v: unknown): void; reject(e: unknown): void }; expectResponse: boolean; sendRequest: () => void }): void;
  fulfillRequest(r: { correlationId: number; payload: Buffer | null; size: number }): void;
  checkPendingRequests(): void;
  destroy(): void;
}
const RequestQueue = require(`${base}network/requestQueue/index.js`) as new (o: object) => RequestQueueInstance;
const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe('the patched request queue (kafkajs#1556: a 1 ms timer loop per connection)', () => {
  const queue = (maxInFlightRequests: number) =>
    new RequestQueue({ maxInFlightRequests, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 'test', broker: 'b:1', logger: silent });
  const answered: number[] = [];
  const entry = (correlationId: number) => ({
    correlationId,
    apiName: 'Fetch',
    apiKey: 1,
    apiVersion: 11,
    resolve: () => answered.push(correlationId),
    reject: (e: unknown) => {
      throw e;
    },
  });

  it('arms no timer when nothing is pending and nothing throttles it', () => {
    const q = queue(1);
    q.checkPendingRequests();
    expect(q.throttleCheckTimeoutId).toBeNull();
    const sent: number[] = [];
    q.push({ entry: entry(1), expectResponse: true, sendRequest: () => sent.push(1) });
    q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    expect(sent).toEqual([1]);
    expect(q.throttleCheckTimeoutId).toBeNull();
    q.destroy();
  });

  it('still sends a request held back by a throttle once the throttle ends', async () => {
    const q = queue(5);
    q.throttledUntil = Date.now() + 30;
    const sent: number[] = [];
    q.push({ entry: entry(7), expectResponse: true, sendRequest: () => sent.push(7) });
    expect(sent).toEqual([]);
    expect(q.pending).toHaveLength(1);
    expect(q.throttleCheckTimeoutId).not.toBeNull();
    await new Promise((r) => setTimeout(r, 120));
    expect(sent).toEqual([7]);
    expect(q.pending).toHaveLength(0);
    q.fulfillRequest({ correlationId: 7, payload: null, size: 0 });
    // Drained and unthrottled: the queue goes quiet instead of re-arming its check every millisecond.
    expect(q.throttleCheckTimeoutId).toBeNull();
    q.destroy();
  });

  it('sends a request held back by the in-flight limit when an earlier one is answered', async () => {
    const q = queue(1);
    const sent: number[] = [];
    q.push({ entry: entry(1), expectResponse: true, sendRequest: () => sent.push(1) });
    q.push({ entry: entry(2), expectResponse: true, sendRequest: () => sent.push(2) });
    expect(sent).toEqual([1]);
    q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    expect(sent).toEqual([1, 2]);
    q.fulfillRequest({ correlationId: 2, payload: null, size: 0 });
    expect(answered.slice(-2)).toEqual([1, 2]);
    // The check armed while request 2 waited fires once, finds nothing, and does not re-arm.
    await new Promise((r) => setTimeout(r, 50));
    expect(q.throttleCheckTimeoutId).toBeNull();
    q.destroy();
  });
});
