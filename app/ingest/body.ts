/**
 * Reading request bodies as streams: the raw bytes (optionally gzip), a byte
 * limit enforced while reading (413 as soon as it is crossed), and NDJSON
 * split into lines without ever holding the whole body.
 */
import type { Request } from "express";
import { StringDecoder } from "string_decoder";
import { createGunzip } from "zlib";
import type { Readable } from "stream";
import { AppError } from "../shared/http/errors";

export type BodyKind = "json" | "ndjson";

/** 415 unless the request is JSON or NDJSON (charset, when given, must be UTF-8). */
export function bodyKind(req: Request): BodyKind {
  const header = req.headers["content-type"] ?? "";
  const [type, ...params] = header.split(";").map((s) => s.trim().toLowerCase());
  const charset = params.find((p) => p.startsWith("charset="))?.slice(8).replace(/"/g, "");
  if (charset && charset !== "utf-8" && charset !== "utf8") {
    throw new AppError(415, "unsupported_media_type", `charset ${charset} is not supported; send UTF-8`, "Content-Type");
  }
  if (type === "application/json") return "json";
  if (type === "application/x-ndjson" || type === "application/ndjson" || type === "application/jsonl") return "ndjson";
  throw new AppError(
    415,
    "unsupported_media_type",
    `Content-Type must be application/json or application/x-ndjson, got ${type || "none"}`,
    "Content-Type",
  );
}

export const tooLarge = (message: string, field = "body") => new AppError(413, "payload_too_large", message, field);

/** The decoded body stream: gzip is inflated (the byte limit applies to what it inflates to). */
function decoded(req: Request): Readable {
  const encoding = (req.headers["content-encoding"] ?? "identity").toLowerCase();
  if (encoding === "identity") return req;
  if (encoding === "gzip") return req.pipe(createGunzip());
  throw new AppError(415, "unsupported_encoding", `Content-Encoding ${encoding} is not supported; use gzip or none`, "Content-Encoding");
}

/**
 * The chunks of the decoded body. A body that says gzip but is not (or is
 * cut short) is the client's error, a 400, not a 500.
 */
async function* bodyChunks(req: Request): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of decoded(req)) yield chunk as Buffer;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("Z_")) {
      throw new AppError(400, "malformed_body", `the body is not valid gzip (${(err as Error).message})`, "Content-Encoding");
    }
    throw err;
  }
}

/** Fails fast on a declared Content-Length above the limit (before reading a byte). */
function checkDeclaredLength(req: Request, maxBytes: number): void {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes && !req.headers["content-encoding"]) {
    throw tooLarge(`request body is ${declared} bytes; the limit is ${maxBytes}`);
  }
}

/** The whole body as text, at most `maxBytes` (JSON bodies: they are parsed whole anyway). */
export async function readText(req: Request, maxBytes: number): Promise<string> {
  checkDeclaredLength(req, maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of bodyChunks(req)) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge(`request body is larger than the limit of ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * The lines of an NDJSON body, one at a time (blank lines skipped). Memory
 * is one network chunk plus one line; the limit applies to the whole body.
 */
export async function* ndjsonLines(req: Request, maxBytes: number, maxLineBytes = 4 * 1024 * 1024): AsyncGenerator<string> {
  checkDeclaredLength(req, maxBytes);
  const decoder = new StringDecoder("utf8");
  let size = 0;
  let rest = "";
  for await (const chunk of bodyChunks(req)) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge(`request body is larger than the limit of ${maxBytes} bytes`);
    const text = rest + decoder.write(chunk);
    let start = 0;
    for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n", start)) {
      const line = text.slice(start, nl).trim();
      start = nl + 1;
      if (line.length > 0) yield line;
    }
    rest = text.slice(start);
    if (rest.length > maxLineBytes) throw tooLarge(`an NDJSON line is longer than ${maxLineBytes} bytes`);
  }
  const last = (rest + decoder.end()).trim();
  if (last.length > 0) yield last;
}
