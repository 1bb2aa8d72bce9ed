/**
 * The body of an import: a long upload (gigabytes), read as a stream and
 * never held. Unlike POST /v1/telemetry (../body.ts) it has no size limit,
 * and it takes far longer than the server's whole-request deadline (listen()'s
 * `requestTimeout`, 30 s, the slow-loris guard), which Node can only set per
 * server. So an import leaves that deadline and gets an inactivity timeout
 * instead: the guard becomes "bytes keep coming while we wait for them",
 * which a stalled or dripping client still fails. The idle clock runs only
 * while the import waits for the client, never while it stores or paces
 * (then it has stopped reading, and TCP back-pressure stalls the client).
 */
import type { Request } from "express";
import { pipeline } from "stream";
import { createGunzip } from "zlib";
import { AppError } from "../../shared/http/errors";

export type ImportFormat = "ndjson" | "csv";

const NDJSON_TYPES = new Set(["application/x-ndjson", "application/ndjson", "application/jsonl"]);

/** 415 unless the body is NDJSON or CSV (a charset, when given, must be UTF-8). */
export function importFormat(req: Request): { format: ImportFormat; contentType: string } {
  const header = req.headers["content-type"] ?? "";
  const [type, ...params] = header.split(";").map((s) => s.trim().toLowerCase());
  const charset = params.find((p) => p.startsWith("charset="))?.slice(8).replace(/"/g, "");
  if (charset && charset !== "utf-8" && charset !== "utf8") {
    throw new AppError(415, "unsupported_media_type", `charset ${charset} is not supported; send UTF-8`, "Content-Type");
  }
  if (NDJSON_TYPES.has(type)) return { format: "ndjson", contentType: type };
  if (type === "text/csv") return { format: "csv", contentType: type };
  throw new AppError(
    415,
    "unsupported_media_type",
    `Content-Type must be application/x-ndjson or text/csv, got ${type || "none"}`,
    "Content-Type",
  );
}

export interface UploadBody {
  /** The decoded body, chunk by chunk; may be iterated once. */
  chunks: AsyncIterable<Buffer>;
  /** Decoded bytes read so far. */
  bytes(): number;
}

export interface UploadOptions {
  /** Longest wait for the client's next bytes, ms. Defaults to 60 s (the ALB's idle timeout). */
  idleTimeoutMs?: number;
  /** Largest piece handed on, bytes. Defaults to 16 KiB (PIECE_BYTES). */
  pieceBytes?: number;
}

/**
 * The body is handed on in pieces of at most this much (views, not copies).
 * A parser takes a piece in one synchronous call, and so do live requests'
 * callbacks wait: a 64 KiB network chunk of CSV is ~1,300 rows, ~7 ms of
 * csv-parse in one stretch on this project's 2-core stack; 16 KiB is ~2 ms.
 */
export const PIECE_BYTES = 16 * 1024;

/**
 * Takes the request out of the server's whole-request deadline. Node keeps
 * that deadline in the connection's HTTP parser, with no public per-request
 * switch; `remove()` is what Node itself calls when a connection leaves its
 * tracking. Where it is missing (another Node), the request keeps the deadline.
 * The parser re-registers on the connection's next request; imports answer
 * with `Connection: close`, so there is none.
 */
function leaveRequestDeadline(req: Request): void {
  (req.socket as { parser?: { remove?: () => void } }).parser?.remove?.();
}

/** The request body, inflated when gzip; 415 for other encodings. */
export function uploadBody(req: Request, opts: UploadOptions = {}): UploadBody {
  const encoding = (req.headers["content-encoding"] ?? "identity").toLowerCase();
  if (encoding !== "identity" && encoding !== "gzip") {
    throw new AppError(415, "unsupported_encoding", `Content-Encoding ${encoding} is not supported; use gzip or none`, "Content-Encoding");
  }
  leaveRequestDeadline(req);
  // pipeline, not pipe: a client that goes away must fail the gunzip side too.
  const source = encoding === "gzip" ? pipeline(req, createGunzip(), () => undefined) : req;
  let bytes = 0;
  const idleMs = opts.idleTimeoutMs ?? 60_000;
  const piece = opts.pieceBytes ?? PIECE_BYTES;
  async function* chunks(): AsyncGenerator<Buffer> {
    for await (const chunk of withIdleTimeout(source as AsyncIterable<Buffer>, idleMs)) {
      bytes += chunk.length;
      for (let at = 0; at < chunk.length; at += piece) yield chunk.subarray(at, at + piece);
    }
  }
  return { chunks: readErrors(chunks()), bytes: () => bytes };
}

/** Fails with 408 when the source yields nothing for `ms` while it is being waited on. */
async function* withIdleTimeout<T>(source: AsyncIterable<T>, ms: number): AsyncGenerator<T> {
  // Never `return()`ed when the import stops early: that would destroy the
  // request, and with it the socket the answer still has to go out on.
  const it = source[Symbol.asyncIterator]();
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new AppError(408, "request_timeout", `no body bytes received for ${Math.round(ms / 1000)} s`, "body")),
        ms,
      );
    });
    const next = await Promise.race([it.next(), idle]).finally(() => clearTimeout(timer));
    if (next.done) return;
    yield next.value;
  }
}

/** Maps what can go wrong while reading onto the client's errors (gzip that is not, a client that left). */
async function* readErrors(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* source;
  } catch (err) {
    if (err instanceof AppError) throw err;
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("Z_")) {
      throw new AppError(400, "malformed_body", `the body is not valid gzip (${(err as Error).message})`, "Content-Encoding");
    }
    if (code === "ECONNRESET" || (err as Error).message === "aborted") {
      throw new AppError(400, "request_aborted", "the upload was cut off before its end", "body");
    }
    throw err;
  }
}
