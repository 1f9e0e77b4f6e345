/**
 * RFC 8785 text straight from PostgreSQL's jsonb output, without building JavaScript values.
 *
 * verifyLog must hash exactly what a reader of the store gets back: the store's readers receive
 * `JSON.parse(<jsonb output text>)` (pg's jsonb type parser), so the reference is
 * `canonicalize(JSON.parse(text))`. Doing that for every event costs ~10 µs (JSON.parse allocates
 * the whole object graph, canonicalize sorts keys and re-serialises every string), which alone caps
 * verification far below its goal. This writer produces the same bytes in one pass over the UTF-8
 * text, and is sound because of what jsonb_out prints and what JSON.parse + canonicalize make of it:
 *
 * - Strings are copied byte for byte. jsonb_out escapes `"` `\` \b \f \n \r \t with their short
 *   forms and every other control character below U+0020 as `\u00xx` (lower-case hex), and nothing
 *   else; JSON.stringify (hence canonicalize) escapes exactly the same set the same way. The two
 *   only differ on U+0000 and lone surrogates, which jsonb cannot hold (it rejects `\u0000`, and
 *   valid UTF-8 text, which PostgreSQL enforces, has no surrogates). So a string token of jsonb_out
 *   is already `JSON.stringify(JSON.parse(token))`.
 * - Object members are re-ordered: jsonb prints them by (length, bytes), canonicalize by UTF-16
 *   code units. For keys of printable ASCII without escapes, byte order is code-unit order; any
 *   other key (non-ASCII, escaped) leaves the fast path (returns -1) and the caller uses the
 *   reference. jsonb never prints duplicate keys (it keeps the last one on input); a duplicate
 *   here leaves the fast path too.
 * - Numbers that are already ECMAScript's shortest form (integers of at most 15 digits without
 *   leading zeros, not -0) are copied; any other number token is checked against JSON's number
 *   grammar and written as `String(Number(token))`, which is what JSON.parse followed by
 *   JSON.stringify does (both use the same round-to-nearest decimal conversion and Number#toString).
 *   A number that is not finite as a double (JSON.parse gives Infinity, canonicalize refuses it)
 *   leaves the fast path.
 * - Whitespace between tokens is dropped; `true`, `false`, `null` are copied.
 *
 * Anything it does not recognise returns -1 rather than guessing, so the only effect of an unusual
 * value is a slower event, never a different hash. Tests compare it with the reference on values
 * round-tripped through a real jsonb column (escapes, non-ASCII keys, big and small numbers,
 * nesting).
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;

/** where a value's canonical text sits: in the source (copied as is) or in the scratch buffer */
const IN_SRC = 0;
const IN_SCRATCH = 1;
/** the top-level container is assembled straight into the caller's buffer */
const IN_DEST = 2;

/** fields per entry of the member / element stack */
const FIELDS = 5; // keyStart, keyEnd, where, valueStart, valueEnd

const SPACE = 0x20;
/** what write()'s flat fast path returns for a text it does not handle */
const NOT_FLAT = -2;
/** members of an object the flat fast path handles */
const MAX_FLAT = 1024;
/** a key of fewer than four bytes: its prefix as if padded with zero bytes (below every key byte) */
const KEY_PAD = [2 ** 32, 2 ** 24, 2 ** 16, 2 ** 8];

const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

export class JsonbCanonicalWriter {
  private src: Uint8Array = new Uint8Array(0);
  private end = 0;
  private scratch: Buffer;
  private scratchView: DataView;
  private srcBuffer: ArrayBufferLike | undefined;
  private srcView: DataView = new DataView(new ArrayBuffer(0));
  private outBuffer: ArrayBufferLike | undefined;
  private outView: DataView = new DataView(new ArrayBuffer(0));
  private top = 0; // scratch fill
  private dest: Uint8Array = new Uint8Array(0);
  private destAt = 0;
  private stack: Int32Array;
  /** flat fast path: per member the key's start and end (after its quote), the value's start and end and where it is */
  private readonly span = new Int32Array(5 * MAX_FLAT);
  /** flat fast path: the first four key bytes as a number, for sorting */
  private readonly prefix = new Float64Array(MAX_FLAT);
  /** the same for an object nested in a flat one (flatObjectInto) */
  private readonly nestedSpan = new Int32Array(5 * MAX_FLAT);
  private readonly nestedPrefix = new Float64Array(MAX_FLAT);
  private sp = 0;
  private order: Int32Array;
  /** span of the value parsed last */
  private where = IN_SRC;
  private vs = 0;
  private ve = 0;

  constructor(scratchBytes = 1 << 20) {
    this.scratch = Buffer.allocUnsafe(scratchBytes);
    this.scratchView = new DataView(this.scratch.buffer, this.scratch.byteOffset, this.scratch.length);
    this.stack = new Int32Array(1 << 16);
    this.order = new Int32Array(1 << 12);
  }

  /**
   * Writes the RFC 8785 text of the JSON text `src[start, end)` (as jsonb_out prints it) into `out`
   * at `at`. Returns the index after it, or -1 when the text is outside the fast path (or would not
   * fit in `out`): then nothing is promised about `out` beyond `at`.
   */
  write(src: Uint8Array, start: number, end: number, out: Uint8Array, at: number): number {
    const flat = this.flat(src, start, end, out, at);
    if (flat !== NOT_FLAT) return flat;
    this.src = src;
    this.end = end;
    this.top = 0;
    this.sp = 0;
    this.dest = out;
    this.destAt = at;
    let i = this.ws(start);
    i = this.value(i, 0);
    if (i < 0) return -1;
    if (this.ws(i) !== end) return -1;
    if (this.where === IN_DEST) return this.ve;
    const n = this.ve - this.vs;
    if (at + n > out.length) return -1;
    const from = this.where === IN_SRC ? src : this.scratch;
    copy(from, this.vs, this.ve, out, at);
    return at + n;
  }

  /**
   * The common case, an object of scalars exactly as jsonb_out prints it (`{"k": v, "k": v}`):
   * one scan for the members' spans, a sort of the keys, one copy of each member. Returns
   * NOT_FLAT for anything else (nested values, non-integer numbers, any other spacing), which the
   * general parser then handles; -1 when it would not fit in `out`.
   */
  private flat(s: Uint8Array, start: number, end: number, out: Uint8Array, at: number): number {
    if (start + 2 > end || s[start] !== LBRACE || s[end - 1] !== RBRACE) return NOT_FLAT;
    if (start + 2 === end) {
      if (at + 2 > out.length) return -1;
      out[at] = LBRACE;
      out[at + 1] = RBRACE;
      return at + 2;
    }
    const span = this.span;
    const pre = this.prefix;
    // views over whole ArrayBuffers, kept while the buffers stay the same (every row of a COPY
    // comes in the same network buffer, and the output buffer is the caller's, reused): a new
    // DataView per call was a measurable share of this path
    if (s.buffer !== this.srcBuffer) {
      this.srcBuffer = s.buffer;
      this.srcView = new DataView(s.buffer);
    }
    const dv = this.srcView;
    const sb = s.byteOffset;
    const last = end - 1; // the closing brace
    let n = 0;
    let size = 1;
    let i = start + 1;
    let nested = false;
    for (;;) {
      // key: printable ASCII without escapes (byte order = UTF-16 code-unit order)
      if (s[i] !== QUOTE) return NOT_FLAT;
      let j = keyClose(s, i, last);
      if (j < 0) return NOT_FLAT;
      const p = keyPrefix(s, i, j);
      const ke = j + 1;
      if (ke + 2 >= last || s[ke] !== COLON || s[ke + 1] !== SPACE) return NOT_FLAT;
      let vs = ke + 2;
      const c = s[vs] as number;
      let ve: number;
      let ve2 = 0;
      let where: number;
      if (c === QUOTE) {
        j = stringClose(s, dv, sb, vs, last);
        if (j < 0) return NOT_FLAT;
        ve = j + 1;
        ve2 = ve;
        where = IN_SRC;
      } else if (c === LBRACE || c === LBRACKET) {
        // a container: the general parser writes its canonical text into the scratch buffer
        // (ve: where the source resumes; vs, ve2: the canonical text, in `where`)
        if (!nested) {
          nested = true;
          this.src = s;
          this.end = last;
          this.top = 0;
          this.sp = 0;
        }
        // an array of flat objects and scalars, or a flat object (the shapes events have, e.g. a
        // risk decision's checks) is written straight into the scratch buffer; anything else,
        // from the same place, by the general parser
        const mark = this.top;
        ve = c === LBRACKET ? this.flatArrayInto(s, vs, last) : this.flatObjectInto(s, vs, last);
        if (ve >= 0) {
          where = IN_SCRATCH;
          vs = mark;
          ve2 = this.top;
        } else {
          this.top = mark;
          ve = this.value(vs, 1);
          if (ve < 0) return -1;
          where = this.where;
          vs = this.vs;
          ve2 = this.ve;
        }
      } else {
        j = vs;
        while (j < last && s[j] !== COMMA) j++;
        ve = j;
        if (!scalarToken(s, vs, ve)) return NOT_FLAT;
        ve2 = ve;
        where = IN_SRC;
      }
      if (n >= MAX_FLAT) return NOT_FLAT;
      const m = n * 5;
      span[m] = i;
      span[m + 1] = ke;
      span[m + 2] = vs;
      span[m + 3] = ve2;
      span[m + 4] = where;
      pre[n] = p;
      n++;
      size += ke - i + 1 + ve2 - vs + 1;
      if (ve === last) break;
      if (s[ve] !== COMMA || s[ve + 1] !== SPACE) return NOT_FLAT;
      i = ve + 2;
    }
    const ord = this.order;
    if (!sortMembers(s, span, pre, n, ord)) return NOT_FLAT;
    if (at + size > out.length) return -1;
    if (out.buffer !== this.outBuffer) {
      this.outBuffer = out.buffer;
      this.outView = new DataView(out.buffer);
    }
    const dvOut = this.outView;
    const ob = out.byteOffset;
    let o = at;
    out[o++] = LBRACE;
    for (let k = 0; k < n; k++) {
      const m = (ord[k] as number) * 5;
      if (k > 0) out[o++] = COMMA;
      o = copyWords(s, dv, sb, span[m] as number, span[m + 1] as number, out, dvOut, ob, o);
      out[o++] = COLON;
      if (span[m + 4] === IN_SRC) o = copyWords(s, dv, sb, span[m + 2] as number, span[m + 3] as number, out, dvOut, ob, o);
      else o = copyWords(this.scratch, this.scratchView, 0, span[m + 2] as number, span[m + 3] as number, out, dvOut, ob, o);
    }
    out[o++] = RBRACE;
    return o;
  }

  /**
   * The flat path one level down: the object at s[i] (`{`) whose values are strings and simple
   * scalars only, printed as jsonb_out prints (`{"k": v, "k": v}`), written canonically at the top
   * of the scratch buffer. Returns the index after its closing brace, or -1 (scratch untouched
   * beyond what the caller resets) for anything else.
   */
  private flatObjectInto(s: Uint8Array, i: number, last: number): number {
    const sc = this.scratch;
    if (s[i + 1] === RBRACE) {
      if (this.top + 2 > sc.length) return -1;
      sc[this.top++] = LBRACE;
      sc[this.top++] = RBRACE;
      return i + 2;
    }
    const span = this.nestedSpan;
    const pre = this.nestedPrefix;
    const dv = this.srcView;
    const sb = s.byteOffset;
    let n = 0;
    let size = 1;
    let k = i + 1;
    for (;;) {
      if (s[k] !== QUOTE) return -1;
      let j = keyClose(s, k, last);
      if (j < 0) return -1;
      const p = keyPrefix(s, k, j);
      const ke = j + 1;
      if (ke + 2 >= last || s[ke] !== COLON || s[ke + 1] !== SPACE) return -1;
      const vs = ke + 2;
      const c = s[vs] as number;
      let ve: number;
      if (c === QUOTE) {
        j = stringClose(s, dv, sb, vs, last);
        if (j < 0) return -1;
        ve = j + 1;
      } else if (c === LBRACE || c === LBRACKET) {
        return -1;
      } else {
        j = vs;
        while (j < last && s[j] !== COMMA && s[j] !== RBRACE) j++;
        ve = j;
        if (!scalarToken(s, vs, ve)) return -1;
      }
      if (n >= MAX_FLAT) return -1;
      const m = n * 5;
      span[m] = k;
      span[m + 1] = ke;
      span[m + 2] = vs;
      span[m + 3] = ve;
      pre[n] = p;
      n++;
      size += ke - k + 1 + ve - vs + 1;
      if (ve >= last) return -1;
      if (s[ve] === RBRACE) {
        k = ve + 1;
        break;
      }
      if (s[ve] !== COMMA || s[ve + 1] !== SPACE) return -1;
      k = ve + 2;
    }
    const ord = this.order;
    if (!sortMembers(s, span, pre, n, ord)) return -1;
    let o = this.top;
    if (o + size > sc.length) return -1;
    sc[o++] = LBRACE;
    for (let a = 0; a < n; a++) {
      const m = (ord[a] as number) * 5;
      if (a > 0) sc[o++] = COMMA;
      o = copy(s, span[m] as number, span[m + 1] as number, sc, o);
      sc[o++] = COLON;
      o = copy(s, span[m + 2] as number, span[m + 3] as number, sc, o);
    }
    sc[o++] = RBRACE;
    this.top = o;
    return k;
  }

  /**
   * The array at s[i] (`[`) whose elements are flat objects (flatObjectInto), strings and simple
   * scalars, as jsonb_out prints it (`[a, b]`), written canonically (`[a,b]`) at the top of the
   * scratch buffer. Returns the index after its closing bracket, or -1.
   */
  private flatArrayInto(s: Uint8Array, i: number, last: number): number {
    const sc = this.scratch;
    if (this.top + 2 > sc.length) return -1;
    if (s[i + 1] === RBRACKET) {
      sc[this.top++] = LBRACKET;
      sc[this.top++] = RBRACKET;
      return i + 2;
    }
    sc[this.top++] = LBRACKET;
    let k = i + 1;
    for (;;) {
      const c = s[k] as number;
      let e: number;
      if (c === LBRACE) {
        e = this.flatObjectInto(s, k, last);
        if (e < 0) return -1;
      } else if (c === LBRACKET) {
        return -1;
      } else {
        let j = k;
        if (c === QUOTE) {
          j = k + 1;
          for (;;) {
            if (j >= last) return -1;
            const b = s[j] as number;
            if (b === QUOTE) break;
            j += b === BACKSLASH ? 2 : 1;
          }
          j++;
        } else {
          while (j < last && s[j] !== COMMA && s[j] !== RBRACKET) j++;
          if (!scalarToken(s, k, j)) return -1;
        }
        if (this.top + (j - k) > sc.length) return -1;
        this.top = copy(s, k, j, sc, this.top);
        e = j;
      }
      if (e >= last || this.top + 1 > sc.length) return -1;
      if (s[e] === RBRACKET) {
        sc[this.top++] = RBRACKET;
        return e + 1;
      }
      if (s[e] !== COMMA || s[e + 1] !== SPACE) return -1;
      sc[this.top++] = COMMA;
      k = e + 2;
    }
  }

  private ws(i: number): number {
    const s = this.src;
    const end = this.end;
    while (i < end) {
      const c = s[i] as number;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      i++;
    }
    return i;
  }

  /** Parses the value at i; sets (where, vs, ve) to its canonical text. Returns the index after it or -1. */
  private value(i: number, depth: number): number {
    const s = this.src;
    if (i >= this.end) return -1;
    const c = s[i] as number;
    if (c === QUOTE) {
      const e = this.stringEnd(i);
      if (e < 0) return -1;
      this.where = IN_SRC;
      this.vs = i;
      this.ve = e;
      return e;
    }
    if (c === LBRACE) return depth > 200 ? -1 : this.object(i, depth);
    if (c === LBRACKET) return depth > 200 ? -1 : this.array(i, depth);
    if (c === 0x74 /* t */) return this.literal(i, 'true');
    if (c === 0x66 /* f */) return this.literal(i, 'false');
    if (c === 0x6e /* n */) return this.literal(i, 'null');
    return this.number(i);
  }

  /** Index after the closing quote of the string starting at i, or -1. */
  private stringEnd(i: number): number {
    const s = this.src;
    const end = this.end;
    for (let j = i + 1; j < end; j++) {
      const b = s[j] as number;
      if (b === QUOTE) return j + 1;
      if (b === BACKSLASH) j++;
    }
    return -1;
  }

  private literal(i: number, word: string): number {
    const s = this.src;
    if (i + word.length > this.end) return -1;
    for (let k = 1; k < word.length; k++) if (s[i + k] !== word.charCodeAt(k)) return -1;
    this.where = IN_SRC;
    this.vs = i;
    this.ve = i + word.length;
    return this.ve;
  }

  private number(i: number): number {
    const s = this.src;
    const end = this.end;
    let j = i;
    while (j < end) {
      const b = s[j] as number;
      if (b === COMMA || b === RBRACE || b === RBRACKET || b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) break;
      j++;
    }
    if (j === i) return -1;
    // already ECMAScript's form: an integer of at most 15 digits, no leading zero, not -0
    let k = i;
    if (s[k] === MINUS) k++;
    let simple = j - k >= 1 && j - k <= 15 && (s[k] !== ZERO || (j - k === 1 && k === i));
    for (let m = k; simple && m < j; m++) {
      const d = s[m] as number;
      if (d < ZERO || d > NINE) simple = false;
    }
    if (simple) {
      this.where = IN_SRC;
      this.vs = i;
      this.ve = j;
      return j;
    }
    const token = Buffer.from(s.buffer, s.byteOffset + i, j - i).toString('latin1');
    if (!JSON_NUMBER.test(token)) return -1;
    const n = Number(token);
    if (!Number.isFinite(n)) return -1;
    const text = String(n); // Number#toString: RFC 8785's number form (-0 prints as 0)
    if (this.top + text.length > this.scratch.length) return -1;
    this.where = IN_SCRATCH;
    this.vs = this.top;
    this.top += this.scratch.write(text, this.top, 'latin1');
    this.ve = this.top;
    return j;
  }

  private array(i: number, depth: number): number {
    const s = this.src;
    const base = this.sp;
    let n = 0;
    let j = this.ws(i + 1);
    if (j < this.end && s[j] === RBRACKET) return this.emptyContainer(i, j + 1, LBRACKET, RBRACKET);
    for (;;) {
      j = this.value(j, depth + 1);
      if (j < 0) return -1;
      const m = base + n * FIELDS;
      if (m + FIELDS > this.stack.length) return -1;
      this.stack[m + 2] = this.where;
      this.stack[m + 3] = this.vs;
      this.stack[m + 4] = this.ve;
      n++;
      this.sp = base + n * FIELDS;
      j = this.ws(j);
      if (j >= this.end) return -1;
      const b = s[j];
      if (b === COMMA) {
        j = this.ws(j + 1);
        continue;
      }
      if (b === RBRACKET) break;
      return -1;
    }
    // assemble at the top of the scratch buffer, or (top level) in the caller's
    const top = depth === 0;
    const out = top ? this.dest : this.scratch;
    const scratch = this.scratch;
    let o = top ? this.destAt : this.top;
    let size = 2 + (n - 1);
    for (let k = 0; k < n; k++) {
      const m = base + k * FIELDS;
      size += (this.stack[m + 4] as number) - (this.stack[m + 3] as number);
    }
    if (o + size > out.length) return -1;
    const start = o;
    out[o++] = LBRACKET;
    for (let k = 0; k < n; k++) {
      const m = base + k * FIELDS;
      if (k > 0) out[o++] = COMMA;
      const from = this.stack[m + 2] === IN_SRC ? s : scratch;
      o = copy(from, this.stack[m + 3] as number, this.stack[m + 4] as number, out, o);
    }
    out[o++] = RBRACKET;
    if (!top) this.top = o;
    this.sp = base;
    this.where = top ? IN_DEST : IN_SCRATCH;
    this.vs = start;
    this.ve = o;
    return j + 1;
  }

  private emptyContainer(i: number, after: number, open: number, close: number): number {
    // `{}` / `[]`, possibly with whitespace inside: the compact form
    if (after - i === 2) {
      this.where = IN_SRC;
      this.vs = i;
      this.ve = after;
      return after;
    }
    if (this.top + 2 > this.scratch.length) return -1;
    this.where = IN_SCRATCH;
    this.vs = this.top;
    this.scratch[this.top++] = open;
    this.scratch[this.top++] = close;
    this.ve = this.top;
    return after;
  }

  private object(i: number, depth: number): number {
    const s = this.src;
    const end = this.end;
    const base = this.sp;
    let n = 0;
    let j = this.ws(i + 1);
    if (j < end && s[j] === RBRACE) return this.emptyContainer(i, j + 1, LBRACE, RBRACE);
    for (;;) {
      if (j >= end || s[j] !== QUOTE) return -1;
      // key: printable ASCII without escapes only (byte order = UTF-16 code-unit order)
      let ke = -1;
      for (let k = j + 1; k < end; k++) {
        const b = s[k] as number;
        if (b === QUOTE) {
          ke = k + 1;
          break;
        }
        if (b === BACKSLASH || b < 0x20 || b >= 0x7f) return -1;
      }
      if (ke < 0) return -1;
      const m = base + n * FIELDS;
      if (m + FIELDS > this.stack.length) return -1;
      this.stack[m] = j;
      this.stack[m + 1] = ke;
      let v = this.ws(ke);
      if (v >= end || s[v] !== COLON) return -1;
      v = this.ws(v + 1);
      this.sp = m + FIELDS; // nested containers push above this member
      v = this.value(v, depth + 1);
      if (v < 0) return -1;
      this.stack[m + 2] = this.where;
      this.stack[m + 3] = this.vs;
      this.stack[m + 4] = this.ve;
      n++;
      j = this.ws(v);
      if (j >= end) return -1;
      const b = s[j];
      if (b === COMMA) {
        j = this.ws(j + 1);
        continue;
      }
      if (b === RBRACE) break;
      return -1;
    }
    // insertion sort of the members by key bytes
    if (n > this.order.length) return -1;
    const ord = this.order;
    const st = this.stack;
    for (let k = 0; k < n; k++) {
      const m = base + k * FIELDS;
      let p = k;
      while (p > 0) {
        const c = compareKeys(s, st, m, ord[p - 1] as number);
        if (c === 0) return -1; // duplicate key: jsonb never prints one
        if (c > 0) break;
        ord[p] = ord[p - 1] as number;
        p--;
      }
      ord[p] = m;
    }
    // assemble at the top of the scratch buffer, or (top level) in the caller's
    const top = depth === 0;
    const out = top ? this.dest : this.scratch;
    const scratch = this.scratch;
    let size = 2 + (n - 1);
    for (let k = 0; k < n; k++) {
      const m = base + k * FIELDS;
      size += (st[m + 1] as number) - (st[m] as number) + 1 + (st[m + 4] as number) - (st[m + 3] as number);
    }
    let o = top ? this.destAt : this.top;
    if (o + size > out.length) return -1;
    const start = o;
    out[o++] = LBRACE;
    for (let k = 0; k < n; k++) {
      const m = ord[k] as number;
      if (k > 0) out[o++] = COMMA;
      o = copy(s, st[m] as number, st[m + 1] as number, out, o);
      out[o++] = COLON;
      const from = st[m + 2] === IN_SRC ? s : scratch;
      o = copy(from, st[m + 3] as number, st[m + 4] as number, out, o);
    }
    out[o++] = RBRACE;
    if (!top) this.top = o;
    this.sp = base;
    this.where = top ? IN_DEST : IN_SCRATCH;
    this.vs = start;
    this.ve = o;
    return j + 1;
  }
}

/**
 * A scalar token the flat fast path copies as is: true, false, null, or an integer already in
 * ECMAScript's form (at most 15 digits, no leading zero, not -0).
 */
function scalarToken(s: Uint8Array, i: number, j: number): boolean {
  const c = s[i] as number;
  if (c === 0x74) return j - i === 4 && s[i + 1] === 0x72 && s[i + 2] === 0x75 && s[i + 3] === 0x65;
  if (c === 0x66) return j - i === 5 && s[i + 1] === 0x61 && s[i + 2] === 0x6c && s[i + 3] === 0x73 && s[i + 4] === 0x65;
  if (c === 0x6e) return j - i === 4 && s[i + 1] === 0x75 && s[i + 2] === 0x6c && s[i + 3] === 0x6c;
  const k = c === MINUS ? i + 1 : i;
  if (j - k < 1 || j - k > 15 || (s[k] === ZERO && (j - k !== 1 || k !== i))) return false;
  for (let m = k; m < j; m++) {
    const d = s[m] as number;
    if (d < ZERO || d > NINE) return false;
  }
  return true;
}

/**
 * The closing quote of the key whose opening quote is s[i], or -1 unless the key is printable
 * ASCII without escapes (where byte order is UTF-16 code-unit order) and closes before `last`.
 */
function keyClose(s: Uint8Array, i: number, last: number): number {
  for (let j = i + 1; j < last; j++) {
    const b = s[j] as number;
    if (b === QUOTE) return j;
    if (b < 0x20 || b >= 0x7f || b === BACKSLASH) return -1;
  }
  return -1;
}

/** The key's first four bytes (s[i] its opening quote, s[j] its closing one) as a number, for sorting: shorter keys padded with zero bytes. */
function keyPrefix(s: Uint8Array, i: number, j: number): number {
  let p = 0;
  const e = Math.min(j, i + 5);
  for (let k = i + 1; k < e; k++) p = p * 256 + (s[k] as number);
  const klen = j - i - 1;
  return klen < 4 ? p * (KEY_PAD[klen] as number) : p;
}

/**
 * The closing quote of the string token whose opening quote is s[i] (jsonb_out's escapes), or -1
 * when it does not close before `last`; four bytes at a time while none is a quote or a backslash.
 * `dv` views s's whole ArrayBuffer, s starting at its byte sb.
 */
function stringClose(s: Uint8Array, dv: DataView, sb: number, i: number, last: number): number {
  let j = i + 1;
  for (;;) {
    if (j + 4 <= last) {
      const v = dv.getUint32(sb + j);
      const x = v ^ 0x22222222;
      const y = v ^ 0x5c5c5c5c;
      if (((((x - 0x01010101) & ~x) | ((y - 0x01010101) & ~y)) & 0x80808080) === 0) {
        j += 4;
        continue;
      }
    }
    if (j >= last) return -1;
    const b = s[j] as number;
    if (b === QUOTE) return j;
    j += b === BACKSLASH ? 2 : 1;
  }
}

/**
 * Insertion sort of n flat members (span entries of 5, key prefixes in pre) by key bytes into
 * ord; false on a duplicate key (jsonb never prints one).
 */
function sortMembers(s: Uint8Array, span: Int32Array, pre: Float64Array, n: number, ord: Int32Array): boolean {
  for (let k = 0; k < n; k++) {
    const pk = pre[k] as number;
    let q = k;
    while (q > 0) {
      const o = ord[q - 1] as number;
      let c = pk - (pre[o] as number);
      if (c === 0) {
        c = compareSpans(s, span, k * 5, o * 5);
        if (c === 0) return false;
      }
      if (c > 0) break;
      ord[q] = o;
      q--;
    }
    ord[q] = k;
  }
  return true;
}

/** Compares the keys of flat members a and b (span offsets) by their bytes. */
function compareSpans(s: Uint8Array, span: Int32Array, a: number, b: number): number {
  let i = (span[a] as number) + 1;
  const ie = (span[a + 1] as number) - 1;
  let j = (span[b] as number) + 1;
  const je = (span[b + 1] as number) - 1;
  for (; i < ie && j < je; i++, j++) {
    const x = s[i] as number;
    const y = s[j] as number;
    if (x !== y) return x - y;
  }
  return ie - i - (je - j);
}

/** Compares the keys (quoted, escape-free ASCII) of stack entries a and b by their bytes. */
function compareKeys(s: Uint8Array, st: Int32Array, a: number, b: number): number {
  let i = (st[a] as number) + 1;
  const ie = (st[a + 1] as number) - 1;
  let j = (st[b] as number) + 1;
  const je = (st[b + 1] as number) - 1;
  for (; i < ie && j < je; i++, j++) {
    const x = s[i] as number;
    const y = s[j] as number;
    if (x !== y) return x - y;
  }
  return ie - i - (je - j);
}

/**
 * Copies from[start, end) to `to` at `at`, four bytes at a time (DataView loads and stores are
 * inlined). The views span whole ArrayBuffers: `from` starts at byte fromBase of fromView, `to` at toBase.
 */
function copyWords(from: Uint8Array, fromView: DataView, fromBase: number, start: number, end: number, to: Uint8Array, toView: DataView, toBase: number, at: number): number {
  let k = start;
  for (; k + 4 <= end; k += 4, at += 4) toView.setUint32(toBase + at, fromView.getUint32(fromBase + k));
  for (; k < end; k++) to[at++] = from[k] as number;
  return at;
}

function copy(from: Uint8Array, start: number, end: number, to: Uint8Array, at: number): number {
  // a plain loop: the values are short, and a native copy needs a subarray object per call
  for (let k = start; k < end; k++) to[at++] = from[k] as number;
  return at;
}
