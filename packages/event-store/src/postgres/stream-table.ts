/**
 * The position walk's per-stream state (verify-position.ts), keyed by the stream name's bytes as
 * they come in the COPY data: no string per event, no object per stream. A million events of
 * 150,000 streams made a JavaScript string and a Map lookup per event and an object per stream;
 * here a lookup hashes and compares bytes, and the whole table is a handful of typed arrays that
 * a worker thread hands back without copying (StreamTableData) and that the receiver uses as is.
 */

/** A StreamTable as structured-clonable data: typed arrays only, transferable. */
export interface StreamTableData {
  size: number;
  keyBytes: Uint8Array;
  keyUsed: number;
  keyStart: Int32Array;
  keyLength: Int32Array;
  next: Float64Array;
  last: Float64Array;
  hashes: Uint8Array;
  index: Int32Array;
}

const EMPTY = 0;

function fnv1a(buf: Uint8Array, s: number, e: number): number {
  let h = 0x811c9dc5;
  for (let k = s; k < e; k++) h = Math.imul(h ^ (buf[k] as number), 0x01000193);
  return h >>> 0;
}

export class StreamTable {
  size = 0;
  /** the names, back to back */
  private keyBytes: Uint8Array;
  private keyUsed = 0;
  private keyStart: Int32Array;
  private keyLength: Int32Array;
  /** per slot: the revision after the stream's last event */
  next: Float64Array;
  /** per slot: the position of the stream's last event */
  last: Float64Array;
  /** per slot, 32 bytes: the stored hash of the stream's last event */
  hashes: Uint8Array;
  /** per slot: a head row matched it (HeadCheck); not transferred */
  headed: Uint8Array;
  /** open addressing: slot + 1, EMPTY where free; its length is a power of two, at most half full */
  private index: Int32Array;

  constructor(data?: StreamTableData) {
    if (data) {
      this.size = data.size;
      this.keyBytes = data.keyBytes;
      this.keyUsed = data.keyUsed;
      this.keyStart = data.keyStart;
      this.keyLength = data.keyLength;
      this.next = data.next;
      this.last = data.last;
      this.hashes = data.hashes;
      this.index = data.index;
      this.headed = new Uint8Array(data.next.length);
      return;
    }
    const slots = 1024;
    this.keyBytes = new Uint8Array(slots * 64);
    this.keyStart = new Int32Array(slots);
    this.keyLength = new Int32Array(slots);
    this.next = new Float64Array(slots);
    this.last = new Float64Array(slots);
    this.hashes = new Uint8Array(slots * 32);
    this.headed = new Uint8Array(slots);
    this.index = new Int32Array(slots * 2);
  }

  /** The slot of the stream named buf[s, e), or -1. */
  find(buf: Uint8Array, s: number, e: number): number {
    const index = this.index;
    const mask = index.length - 1;
    const len = e - s;
    const keys = this.keyBytes;
    for (let i = fnv1a(buf, s, e) & mask; ; i = (i + 1) & mask) {
      const entry = index[i] as number;
      if (entry === EMPTY) return -1;
      const slot = entry - 1;
      if (this.keyLength[slot] !== len) continue;
      const at = this.keyStart[slot] as number;
      let k = 0;
      while (k < len && keys[at + k] === buf[s + k]) k++;
      if (k === len) return slot;
    }
  }

  /** Adds the stream named buf[s, e) (not in the table) with next 0; returns its slot. */
  add(buf: Uint8Array, s: number, e: number): number {
    const slot = this.size;
    if (slot === this.next.length) this.growSlots();
    if ((slot + 1) * 2 > this.index.length) this.rehash(this.index.length * 2);
    const len = e - s;
    if (this.keyUsed + len > this.keyBytes.length) {
      const bigger = new Uint8Array(Math.max(this.keyBytes.length * 2, this.keyUsed + len));
      bigger.set(this.keyBytes.subarray(0, this.keyUsed));
      this.keyBytes = bigger;
    }
    const keys = this.keyBytes;
    const at = this.keyUsed;
    for (let k = 0; k < len; k++) keys[at + k] = buf[s + k] as number;
    this.keyUsed = at + len;
    this.keyStart[slot] = at;
    this.keyLength[slot] = len;
    this.next[slot] = 0;
    this.last[slot] = -1;
    this.size = slot + 1;
    this.place(keys, at, at + len, slot);
    return slot;
  }

  /** The stream's name (for messages). */
  name(slot: number): string {
    const at = this.keyStart[slot] as number;
    return Buffer.from(this.keyBytes.buffer, this.keyBytes.byteOffset + at, this.keyLength[slot]).toString('utf8');
  }

  /** The stored hash of the stream's last event. */
  hashOf(slot: number): Uint8Array {
    return this.hashes.subarray(slot * 32, slot * 32 + 32);
  }

  /** Every slot's name, in slot order (tests). */
  names(): string[] {
    return Array.from({ length: this.size }, (_, slot) => this.name(slot));
  }

  /** The table as transferable data (its arrays are handed over: do not use this table after). */
  toData(): StreamTableData {
    return {
      size: this.size,
      keyBytes: this.keyBytes,
      keyUsed: this.keyUsed,
      keyStart: this.keyStart,
      keyLength: this.keyLength,
      next: this.next,
      last: this.last,
      hashes: this.hashes,
      index: this.index,
    };
  }

  private place(buf: Uint8Array, s: number, e: number, slot: number): void {
    const index = this.index;
    const mask = index.length - 1;
    let i = fnv1a(buf, s, e) & mask;
    while (index[i] !== EMPTY) i = (i + 1) & mask;
    index[i] = slot + 1;
  }

  private rehash(length: number): void {
    this.index = new Int32Array(length);
    const keys = this.keyBytes;
    for (let slot = 0; slot < this.size; slot++) {
      const at = this.keyStart[slot] as number;
      this.place(keys, at, at + (this.keyLength[slot] as number), slot);
    }
  }

  private growSlots(): void {
    const n = this.next.length * 2;
    const grow = <T extends Int32Array | Float64Array | Uint8Array>(a: T, make: (n: number) => T, per = 1): T => {
      const b = make(n * per);
      b.set(a);
      return b;
    };
    this.keyStart = grow(this.keyStart, (m) => new Int32Array(m));
    this.keyLength = grow(this.keyLength, (m) => new Int32Array(m));
    this.next = grow(this.next, (m) => new Float64Array(m));
    this.last = grow(this.last, (m) => new Float64Array(m));
    this.hashes = grow(this.hashes, (m) => new Uint8Array(m), 32);
    this.headed = grow(this.headed, (m) => new Uint8Array(m));
  }
}
