/**
 * A compact in-memory spool of validated readings.
 *
 * A request is all-or-nothing: nothing may be published before its last
 * reading is validated. Holding 100k readings as JS objects costs ~10× their
 * size in heap (object headers, arrays, boxed numbers); the spool keeps each
 * reading as one short JSON tuple line (attribute names replaced by ids, the
 * timestamp as epoch ms) inside ~64 KiB Buffers, which live outside the V8
 * heap and cost ~40–60 bytes per small reading. The raw request body is never
 * held: NDJSON is validated line by line as it streams in.
 */
import type { ValidReading } from "./types";

const BLOCK_CHARS = 64 * 1024;

export class ReadingSpool {
  private readonly blocks: Buffer[] = [];
  private pending: string[] = [];
  private pendingChars = 0;
  count = 0;
  values = 0;

  append(r: ValidReading): void {
    const line = JSON.stringify([r.entityId, r.entityType, r.tsMs, r.lane === "backfill" ? 1 : 0, r.values]);
    this.pending.push(line);
    this.pendingChars += line.length + 1;
    this.count++;
    this.values += r.values.length;
    if (this.pendingChars >= BLOCK_CHARS) this.seal();
  }

  /** Bytes held by the spool (what a 100k-reading request costs in memory). */
  get bytes(): number {
    return this.blocks.reduce((n, b) => n + b.length, 0) + this.pendingChars;
  }

  /** Drops everything (a request that turned out invalid). */
  clear(): void {
    this.blocks.length = 0;
    this.pending = [];
    this.pendingChars = 0;
  }

  private seal(): void {
    if (this.pending.length === 0) return;
    this.blocks.push(Buffer.from(this.pending.join("\n") + "\n", "utf8"));
    this.pending = [];
    this.pendingChars = 0;
  }

  /** Yields the readings in order, `size` at a time; each block is released once read. */
  async *chunks(size: number): AsyncGenerator<ValidReading[]> {
    this.seal();
    let chunk: ValidReading[] = [];
    while (this.blocks.length > 0) {
      const block = this.blocks.shift() as Buffer;
      const text = block.toString("utf8");
      let start = 0;
      for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n", start)) {
        const [entityId, entityType, tsMs, lane, values] = JSON.parse(text.slice(start, nl)) as [
          string, string, number, number, ValidReading["values"],
        ];
        chunk.push({ entityId, entityType, tsMs, lane: lane === 1 ? "backfill" : "live", values });
        start = nl + 1;
        if (chunk.length >= size) {
          yield chunk;
          chunk = [];
        }
      }
    }
    if (chunk.length > 0) yield chunk;
  }
}
