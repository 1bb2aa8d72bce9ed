/**
 * The opaque keyset cursor of a search: base64url(JSON) "." base64url(HMAC).
 *
 * It carries the position (updated_at to the microsecond as PostgreSQL
 * printed it, entity_id), the tenant and the hash of the filters, and is
 * signed with the server's key. A cursor is rejected (400 invalid_cursor)
 * when it was tampered with, or belongs to another tenant, or to a search
 * with other filters. Row-level security would keep another tenant's rows
 * out anyway; the check turns a silent empty page into a clear error.
 */
import { createHmac, timingSafeEqual } from "crypto";
import { badRequest } from "../../shared/http/errors";

export interface CursorPosition {
  /** `updated_at` of the last row of the page, as exact text (microseconds). */
  updatedAt: string;
  /** `entity_id` of that row, as text (bigint). */
  entityId: string;
}

interface CursorBody {
  v: 1;
  t: string;
  f: string;
  u: string;
  e: string;
}

const sign = (secret: Buffer, payload: string) => createHmac("sha256", secret).update(payload).digest().subarray(0, 16);

export function encodeCursor(secret: Buffer, tenantId: string, filterHash: string, pos: CursorPosition): string {
  const body: CursorBody = { v: 1, t: tenantId, f: filterHash, u: pos.updatedAt, e: pos.entityId };
  const payload = Buffer.from(JSON.stringify(body)).toString("base64url");
  return `${payload}.${sign(secret, payload).toString("base64url")}`;
}

const invalid = (why: string) => badRequest("invalid_cursor", `cursor is not valid for this search: ${why}`, "cursor");

// Another tenant's cursor gets exactly the answer a forged one gets: the
// caller must not learn that what it holds is a genuine cursor of someone else.
const NOT_YOURS = "not issued to this tenant";

/** The position of a cursor issued to this tenant for these filters; 400 invalid_cursor otherwise. */
export function decodeCursor(secret: Buffer, tenantId: string, filterHash: string, cursor: string): CursorPosition {
  if (cursor.length > 1024) throw invalid("too long");
  const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(cursor);
  if (!m) throw invalid("malformed");
  const expected = sign(secret, m[1]);
  const given = Buffer.from(m[2], "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid(NOT_YOURS);
  let body: CursorBody;
  try {
    body = JSON.parse(Buffer.from(m[1], "base64url").toString("utf8")) as CursorBody;
  } catch {
    throw invalid("malformed");
  }
  if (body.v !== 1 || typeof body.u !== "string" || typeof body.e !== "string" || !/^\d{1,19}$/.test(body.e)) throw invalid("malformed");
  if (body.t !== tenantId) throw invalid(NOT_YOURS);
  if (body.f !== filterHash) throw invalid("issued for other filters");
  return { updatedAt: body.u, entityId: body.e };
}
