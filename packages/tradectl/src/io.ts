/**
 * The CLI's view of the outside world, injected so that commands run in-process in tests:
 * stdout carries data only; stderr carries progress, notes and errors.
 */

export interface CliStream {
  write(chunk: string): unknown;
  /** True on a terminal: `events` prints a table, progress bars are drawn. */
  isTTY?: boolean;
  /** Terminal width, when known. */
  columns?: number;
  /** Node writables: used to honour back-pressure when stdout is a pipe. */
  once?(event: 'drain', listener: () => void): unknown;
}

export interface CliIo {
  stdout: CliStream;
  stderr: CliStream;
  env: Readonly<Record<string, string | undefined>>;
  /** Aborting it ends `--follow` (main.ts wires SIGINT/SIGTERM to it). */
  signal?: AbortSignal;
  /** Injected time (the `occurredAt` of what `redrive` appends). Default: the system clock. */
  clock?: { now(): Date };
}

/** Buffered writer with back-pressure: millions of lines without holding them all. */
export class Output {
  private buf: string[] = [];
  private size = 0;

  constructor(
    private readonly stream: CliStream,
    private readonly highWater = 64 * 1024,
  ) {}

  get isTTY(): boolean {
    return this.stream.isTTY === true;
  }

  get columns(): number {
    return this.stream.columns ?? 120;
  }

  /** Appends text; call `flush()` (awaited) regularly and at the end. */
  write(text: string): void {
    this.buf.push(text);
    this.size += text.length;
  }

  line(text = ''): void {
    this.write(`${text}\n`);
  }

  /** Flushes when the buffer is large; awaits 'drain' when the stream asks for it. */
  async maybeFlush(): Promise<void> {
    if (this.size >= this.highWater) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.buf.length === 0) return;
    const chunk = this.buf.join('');
    this.buf = [];
    this.size = 0;
    const ok = this.stream.write(chunk);
    if (ok === false && this.stream.once) {
      await new Promise<void>((resolve) => this.stream.once?.('drain', resolve));
    }
  }
}

/** An in-memory io for tests and embedding: collects what the CLI writes. */
export function memoryIo(env: Record<string, string | undefined> = {}, options: { tty?: boolean; signal?: AbortSignal; clock?: { now(): Date } } = {}): CliIo & {
  out(): string;
  err(): string;
} {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => ((out += s), true), isTTY: options.tty ?? false, columns: 160 },
    stderr: { write: (s: string) => ((err += s), true), isTTY: false },
    env,
    signal: options.signal,
    clock: options.clock,
    out: () => out,
    err: () => err,
  };
}
