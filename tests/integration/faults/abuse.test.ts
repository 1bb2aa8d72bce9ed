/**
 * Scenario 7 of the fault, abuse and isolation suite: a corpus of bad inputs
 * against the ingest and query APIs, as data. Every input gets its documented
 * status and machine-readable code (and field where there is one), never a
 * 500 or a stack trace; nothing of it is stored; the service stays up and
 * answers good requests afterwards; a stalled (slow-loris) body neither
 * blocks other requests nor holds its socket forever.
 *
 * The single cases of tests/integration/ingest/bad-input.test.ts (one per
 * kind of error) are not repeated here: this is the breadth around them.
 */
import { expect } from "chai";
import type { Server } from "http";
import type { AddressInfo } from "net";
import { gzipSync } from "zlib";
import { createIngestRouter } from "../../../app/ingest/app";
import { DirectSink } from "../../../app/ingest/direct-sink";
import { openapi } from "../../../app/ingest/openapi";
import { closeServer, createServiceApp, listen } from "../../../app/shared/http/server";
import { useTestDatabase, type TestDatabase } from "../../helpers/db";
import { newTenant, startApi, testConfig, type RunningApi } from "../ingest/harness";
import { makeTenant, startQueryApi, write, type QueryApi, type Tenant } from "../query/harness";
import { createWarehouse, leaksInternals, send, slowLoris, storedRows, warehouseFacts, type RawRequest, type RawResponse } from "./harness";

type Target = "ingest" | "tight" | "query";

interface Case {
  name: string;
  on: Target;
  req: () => RawRequest;
  status: number;
  code?: string;
  field?: string;
  /** The field of the first listed bad reading (400 invalid_readings). */
  detail?: string;
  /** Extra check of a 2xx answer (injection attempts that are valid input). */
  check?: (r: RawResponse) => void;
}

describe("fault suite, abuse: every bad input gets its documented 4xx and code, nothing is stored, the service stays up", function () {
  this.timeout(120_000);
  const db = useTestDatabase();
  let wh: TestDatabase;
  let ingest: RunningApi;
  let tight: RunningApi;
  let query: QueryApi;
  let t: Tenant; // unknown attributes: reject
  let reg: { id: string; key: string }; // unknown attributes: register
  const urls = {} as Record<Target, string>;
  const now = new Date();
  const iso = (msAgo: number) => new Date(now.getTime() - msAgo).toISOString();
  const FROM = iso(86_400_000);
  const TO = iso(-60_000);

  before(async function () {
    this.timeout(120_000);
    wh = await createWarehouse();
    t = await makeTenant(db.pool, {
      temperature: ["decimal", true],
      status: ["string", true],
      count: ["int", true],
      seen: ["timestamp", true],
      on: ["bool", true],
      firmware: ["string", false],
    });
    const r = await newTenant(db.pool, { unknownAttributes: "register" });
    reg = { id: r.tenant_id, key: r.api_key };
    await write(db.pool, t, [{ entityId: 1, ts: iso(3_600_000), values: { temperature: 20.5, status: "online", count: 3, on: true } }]);
    await warehouseFacts(wh.pool, t.id, t.attrs.get("temperature")!, "temperature", 1, [[new Date(iso(3_600_000)), 20.5]]);
    const env = { KAFKA_BROKERS: undefined, TENANT_RATE_LIMIT_RPS: "100000" };
    ingest = await startApi({ config: testConfig(db.url, env), pool: db.pool, mode: "direct" });
    tight = await startApi({ config: testConfig(db.url, { ...env, INGEST_MAX_BODY_BYTES: String(64 * 1024) }), pool: db.pool, mode: "direct" });
    query = await startQueryApi(db, { warehouseUrl: wh.url });
    Object.assign(urls, { ingest: ingest.url, tight: tight.url, query: query.url });
  });
  after(async () => {
    await ingest?.close();
    await tight?.close();
    await query?.close();
    await wh?.drop();
  });

  // ---- request builders (keys are known only once `before` ran) ----
  const auth = (key: string) => ({ authorization: `Bearer ${key}` });
  const telemetry = (body: string | Buffer, contentType = "application/json", extra: Record<string, string> = {}, key?: string): RawRequest => ({
    method: "POST",
    path: "/v1/telemetry",
    headers: { ...auth(key ?? t.key), ...(contentType ? { "content-type": contentType } : {}), ...extra },
    body,
  });
  /** One reading whose `values` (or another member) is raw JSON text: NaN, 1e400 and friends survive only as text. */
  const reading = (members: Record<string, string>) => {
    const m = { entity_id: "1", entity_type: '"sensor"', ts: JSON.stringify(iso(1000)), values: '{"temperature":21.5}', ...members };
    return Object.entries(m)
      .filter(([, v]) => v !== "")
      .map(([k, v]) => `${JSON.stringify(k)}:${v}`)
      .join(",");
  };
  const one = (members: Record<string, string>) => `{"readings":[{${reading(members)}}]}`;
  const value = (name: string, raw: string) => one({ values: `{${JSON.stringify(name)}:${raw}}` });
  const attribute = (body: string, contentType = "application/json"): RawRequest => ({
    method: "POST",
    path: "/v1/attributes",
    headers: { ...auth(t.key), "content-type": contentType },
    body,
  });
  const get = (path: string, headers: Record<string, string> = {}, key?: string): RawRequest => ({ method: "GET", path, headers: { ...auth(key ?? t.key), ...headers } });
  const search = (body: string, contentType = "application/json"): RawRequest => ({
    method: "POST",
    path: "/v1/entities/search",
    headers: { ...auth(t.key), "content-type": contentType },
    body,
  });
  const filter = (attr: string, op: string, raw: string) => search(`{"filters":[{"attribute":${JSON.stringify(attr)},"op":${JSON.stringify(op)},"value":${raw}}]}`);
  const ts = (q: string) => get(`/v1/entities/1/timeseries?${q}`);
  const tsRange = (extra: string) => ts(`attributes=temperature&from=${FROM}&to=${TO}${extra}`);
  const analytics = (path: string, headers: Record<string, string> = {}) => get(`/v1/analytics/${path}`, headers);
  const hourly = (q: string) => analytics(`attributes/temperature/hourly?${q}`);
  const gzipBomb = () => gzipSync(Buffer.from(`{"readings":[],"pad":"${"0".repeat(10 * 1024 * 1024)}"}`));
  const emptyOk = (r: RawResponse) => expect(r.body.entities).to.deep.equal([]);

  const bad = (status: number, code: string, field?: string) => ({ status, code, field });
  const badJson = bad(400, "malformed_json", "body");
  const badBody = bad(400, "invalid_body", "readings");
  const badReading = (detail: string) => ({ ...bad(400, "invalid_readings", "readings"), detail });
  const unauthorized = bad(401, "unauthorized", "Authorization");
  const badParam = (field: string) => bad(400, "invalid_parameter", field);
  const badFilter = (field = "filters[0].value") => bad(400, "invalid_filter", field);
  const badHeader = (field: string) => bad(400, "invalid_header", field);
  const badAttr = (field: string) => bad(400, "invalid_attribute", field);

  const corpus: Case[] = [];
  const add = (on: Target, name: string, req: () => RawRequest, expected: Omit<Case, "name" | "on" | "req">) => corpus.push({ name, on, req, ...expected });

  // Unknown tenants and keys, on every endpoint of both APIs.
  const endpoints: Array<[Target, string, (key: string) => RawRequest]> = [
    ["ingest", "POST /v1/telemetry", (k) => telemetry(one({}), "application/json", {}, k)],
    ["ingest", "GET /v1/attributes", (k) => get("/v1/attributes", {}, k)],
    ["query", "GET /v1/entities/1", (k) => get("/v1/entities/1", {}, k)],
    ["query", "POST /v1/entities/search", (k) => ({ ...search("{}"), headers: { ...auth(k), "content-type": "application/json" } })],
    ["query", "GET timeseries", (k) => get(`/v1/entities/1/timeseries?attributes=temperature&from=${FROM}&to=${TO}`, {}, k)],
    ["query", "GET analytics", (k) => get("/v1/analytics/entities/count-by-type", {}, k)],
  ];
  const keys: Array<[string, () => string | null]> = [
    ["no Authorization header", () => null],
    ["a key of a tenant that does not exist", () => `atk_${"0".repeat(32)}_${"A".repeat(32)}`],
    ["tenant A's id with a forged secret", () => `atk_${t.id.replace(/-/g, "")}_${"B".repeat(32)}`],
    ["an SQL injection as the key", () => "atk_'OR'1'='1'--"],
  ];
  for (const [on, endpoint, build] of endpoints) {
    for (const [what, key] of keys) {
      add(on, `${endpoint} with ${what}`, () => {
        const k = key();
        const r = build(k ?? "x");
        if (k === null) delete (r.headers as Record<string, string>).authorization;
        return r;
      }, unauthorized);
    }
  }
  add("ingest", "Basic auth instead of a bearer key", () => telemetry(one({}), "application/json", { authorization: "Basic dXNlcjpwYXNz" }), unauthorized);
  add("ingest", "a 600-character bearer key", () => telemetry(one({}), "application/json", {}, "k".repeat(600)), unauthorized);

  // Malformed JSON, and JSON that is not the documented shape.
  const malformed: Array<[string, string | Buffer]> = [
    ["an empty body", ""],
    ["a lone brace", "{"],
    ["unquoted keys", "{readings:[]}"],
    ["single quotes", "{'readings':[]}"],
    ["a trailing comma", '{"readings":[1,]}'],
    ["a comment", '{"readings":[]} // no'],
    ["a NaN literal", value("temperature", "NaN")],
    ["an Infinity literal", value("temperature", "Infinity")],
    ["a -Infinity literal", value("temperature", "-Infinity")],
    ["invalid UTF-8 bytes", Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
    ["a raw NUL byte inside a string", one({ entity_type: '"sen\u0000sor"' })],
    ["a truncated body", one({}).slice(0, 40)],
  ];
  for (const [what, body] of malformed) add("ingest", `JSON body with ${what}`, () => telemetry(body), badJson);
  for (const body of ["null", "[]", '"readings"', '{"readings":{}}', '{"readings":"[]"}', '{"Readings":[]}']) {
    add("ingest", `JSON body ${body}`, () => telemetry(body), badBody);
  }

  // Wrong types, huge numbers, non-finite numbers in every member of a reading.
  const members: Array<[string, string, string]> = [
    ["entity_id", '"abc"', "a word"],
    ["entity_id", "0", "zero"],
    ["entity_id", "-1", "negative"],
    ["entity_id", "1.5", "a fraction"],
    ["entity_id", "1e400", "1e400 (beyond double)"],
    ["entity_id", "99999999999999999999", "a number beyond int64"],
    ["entity_id", '"9223372036854775808"', "a digit string of 2^63"],
    ["entity_id", "true", "a boolean"],
    ["entity_id", '"1 OR 1=1"', "an SQL fragment"],
    ["entity_id", "", "missing"],
    ["entity_type", '""', "empty"],
    ["entity_type", JSON.stringify("x".repeat(65)), "65 characters"],
    ["entity_type", "42", "a number"],
    ["entity_type", '"sensor\\u0000"', "an escaped NUL"],
    ["ts", '"yesterday"', "a word"],
    ["ts", '"2026-13-01T00:00:00Z"', "month 13"],
    ["ts", '"2026-01-01T00:00:00"', "no time zone"],
    ["ts", "-1", "negative epoch ms"],
    ["ts", "1.5", "fractional epoch ms"],
    ["ts", "1e400", "1e400"],
    ["ts", '"1969-12-31T23:59:59Z"', "before 1970"],
    ["ts", '"9999-12-31T23:59:59Z"', "far in the future"],
    ["ts", "{}", "an object"],
    ["values", "", "missing"],
    ["values", "null", "null"],
    ["values", "[]", "an array"],
    ["values", '"temperature=1"', "a string"],
    ["values", "{}", "empty"],
  ];
  for (const [member, raw, what] of members) {
    add("ingest", `${member} ${what}`, () => telemetry(one({ [member]: raw })), badReading(member));
  }
  const tenThousand = () => `{${Array.from({ length: 10_000 }, (_, i) => `"a${i}":${i}`).join(",")}}`;
  add("ingest", "10,000 attributes in one reading", () => telemetry(one({ values: tenThousand() })), badReading("values"));

  const typed: Array<[string, string, string]> = [
    ["temperature", '"NaN"', "the string NaN"],
    ["temperature", '"Infinity"', "the string Infinity"],
    ["temperature", '"1e999"', "the string 1e999"],
    ["temperature", "1e999", "1e999 (beyond double)"],
    ["temperature", '"21.5"', "a string where a number belongs"],
    ["temperature", "true", "a boolean"],
    ["temperature", "null", "null"],
    ["temperature", '{"$gt":0}', "an operator object"],
    ["temperature", `${"[".repeat(1000)}1${"]".repeat(1000)}`, "1,000 nested arrays"],
    ["count", "1.5", "a fraction for an int"],
    ["count", "9007199254740993", "an int beyond 2^53 as a number"],
    ["count", '"9223372036854775808"', "an int beyond int64 as digits"],
    ["count", '"-9223372036854775809"', "an int below int64 as digits"],
    ["count", "123456789012345678901234567890", "a 30-digit number"],
    ["count", '"1e3"', "exponent notation in a string"],
    ["count", '"0x10"', "hex"],
    ["status", "42", "a number for a string"],
    ["status", JSON.stringify("x".repeat(1024 * 1024)), "a string of 1 MB"],
    ["status", '"a\\u0000b"', "an escaped NUL"],
    ["status", '["online"]', "an array"],
    ["seen", '"garbage"', "garbage for a timestamp"],
    ["seen", "1e400", "1e400 for a timestamp"],
    ["on", '"true"', "a string for a bool"],
    ["on", "1", "a number for a bool"],
  ];
  for (const [name, raw, what] of typed) add("ingest", `${name}: ${what}`, () => telemetry(value(name, raw)), badReading(`values.${name}`));

  const names: Array<[string, string]> = [
    ["temperature'; DROP TABLE attributes;--", "an SQL injection"],
    ["$.temperature", "a JSON path"],
    ["temperature\u0000", "a NUL"],
    ["", "empty"],
    ["a".repeat(129), "129 characters"],
    ["名前", "non-ASCII letters"],
    ["temperature\u202e", "a right-to-left override"],
    ["humidity", "an unregistered name"],
  ];
  for (const [name, what] of names) add("ingest", `attribute name with ${what}`, () => telemetry(value(name, "1")), badReading(`values.${name}`));
  // A tenant that auto-registers unknown names: bad names are refused and nothing gets registered.
  add("ingest", "auto-registration of an SQL injection as a name", () => telemetry(value("x'; DROP TABLE attributes;--", "1"), "application/json", {}, reg.key), badReading("values.x'; DROP TABLE attributes;--"));
  add("ingest", "auto-registration of a JSON path as a name", () => telemetry(value("$[0]", "1"), "application/json", {}, reg.key), badReading("values.$[0]"));
  add("ingest", "auto-registration of a null value (no type to infer)", () => telemetry(value("fresh_null", "null"), "application/json", {}, reg.key), badReading("values.fresh_null"));
  add(
    "ingest",
    "auto-registration in a request refused for another reading",
    () => telemetry(`{"readings":[{${reading({ values: '{"fresh_name":1}' })}},{${reading({ entity_id: "-2" })}}]}`, "application/json", {}, reg.key),
    badReading("entity_id"),
  );
  for (const body of ["[1]", "[null]", '["x"]']) add("ingest", `readings ${body}`, () => telemetry(`{"readings":${body}}`), badReading("reading"));

  // NDJSON.
  const nd = (body: string | Buffer) => telemetry(body, "application/x-ndjson");
  add("ingest", "NDJSON line NaN", () => nd(`{${reading({})}}\nNaN\n`), badReading("reading"));
  add("ingest", "NDJSON truncated last line", () => nd(`{${reading({})}}\n{"entity_id":1`), badReading("reading"));
  add("ingest", "NDJSON of blank lines only", () => nd("\n\n  \n"), bad(400, "invalid_readings", "readings"));
  add("ingest", "NDJSON line with a raw NUL byte", () => nd(`{${reading({ entity_type: '"a\u0000"' })}}`), badReading("reading"));
  add("ingest", "NDJSON line that is an array", () => nd("[1,2]"), badReading("reading"));
  add("ingest", "NDJSON of 10,001 readings", () => nd(Array.from({ length: 10_001 }, () => `{${reading({})}}`).join("\n")), bad(413, "too_many_readings", "readings"));

  // Content types and encodings.
  for (const ct of ["text/plain", "", "application/json; charset=latin1", "multipart/form-data; boundary=x"]) {
    add("ingest", `Content-Type '${ct}'`, () => telemetry(one({}), ct), bad(415, "unsupported_media_type", "Content-Type"));
  }
  add("ingest", "Content-Encoding br", () => telemetry(one({}), "application/json", { "content-encoding": "br" }), bad(415, "unsupported_encoding", "Content-Encoding"));
  add("ingest", "Content-Encoding gzip on a body that is not gzip", () => telemetry(one({}), "application/json", { "content-encoding": "gzip" }), bad(400, "malformed_body", "Content-Encoding"));
  add("ingest", "Content-Encoding gzip on truncated gzip", () => telemetry(gzipSync(one({})).subarray(0, 20), "application/json", { "content-encoding": "gzip" }), bad(400, "malformed_body", "Content-Encoding"));

  // Bodies over the limit (64 KiB on this API), however they arrive.
  const big = () => `{"readings":[],"pad":"${"x".repeat(200 * 1024)}"}`;
  add("tight", "a chunked JSON body over the limit (no Content-Length)", () => ({ ...telemetry(big()), chunked: 16 * 1024 }), bad(413, "payload_too_large", "body"));
  add("tight", "a chunked NDJSON body over the limit", () => ({ ...nd(Array.from({ length: 3000 }, () => `{${reading({})}}`).join("\n")), chunked: 16 * 1024 }), bad(413, "payload_too_large", "body"));
  add("tight", "a gzip bomb (10 MB inflated from ~10 KB)", () => telemetry(gzipBomb(), "application/json", { "content-encoding": "gzip" }), bad(413, "payload_too_large", "body"));
  add("tight", "a Content-Length of 1 GB", () => telemetry("{}", "application/json", { "content-length": String(1024 ** 3) }), bad(413, "payload_too_large", "body"));

  // The attribute registry.
  const regCases: Array<[string, string, string]> = [
    ["an SQL injection as the name", JSON.stringify({ name: "x'; DROP TABLE attributes;--", data_type: "int" }), "name"],
    ["an empty name", JSON.stringify({ name: "", data_type: "int" }), "name"],
    ["a 129-character name", JSON.stringify({ name: "a".repeat(129), data_type: "int" }), "name"],
    ["a NUL in the name", JSON.stringify({ name: "a\u0000", data_type: "int" }), "name"],
    ["a number as the name", JSON.stringify({ name: 42, data_type: "int" }), "name"],
    ["an array body", "[1]", "name"],
    ["data type float", JSON.stringify({ name: "x", data_type: "float" }), "data_type"],
    ["data type INT (case)", JSON.stringify({ name: "x", data_type: "INT" }), "data_type"],
    ["hot as a string", JSON.stringify({ name: "x", data_type: "int", hot: "yes" }), "hot"],
  ];
  for (const [what, body, field] of regCases) add("ingest", `POST /v1/attributes with ${what}`, () => attribute(body), badAttr(field));
  add("ingest", "POST /v1/attributes with a NaN literal", () => attribute('{"name":"x","data_type":"int","hot":NaN}'), badJson);
  add("ingest", "POST /v1/attributes over 16 KB", () => attribute(JSON.stringify({ name: "x", data_type: "int", pad: "x".repeat(20_000) })), bad(413, "payload_too_large"));
  add("ingest", "POST /v1/attributes as text/plain", () => attribute("{}", "text/plain"), bad(415, "unsupported_media_type", "Content-Type"));

  // Query: entity ids.
  for (const id of ["abc", "0", "-1", "1.5", "1e3", "99999999999999999999", "9223372036854775808", "%27%3B%20DROP%20TABLE%20entity_jsonb%3B--", "1%00", "9".repeat(5000), "%E2%80%AE1"]) {
    add("query", `GET /v1/entities/${id.slice(0, 40)}`, () => get(`/v1/entities/${id}`), badParam("id"));
  }
  add("query", "GET an entity id that does not exist", () => get("/v1/entities/424242"), bad(404, "not_found"));
  // Consistency headers.
  for (const [h, v] of [["x-consistency-level", "weak"], ["x-consistency-level", "analytics"], ["x-max-lag-seconds", "-1"], ["x-max-lag-seconds", "NaN"], ["x-max-lag-seconds", "1e999"], ["x-max-lag-seconds", "86401"]]) {
    const field = h === "x-consistency-level" ? "X-Consistency-Level" : "X-Max-Lag-Seconds";
    add("query", `GET entity with ${h}: ${v}`, () => get("/v1/entities/1", { [h]: v }), badHeader(field));
  }
  // Time series parameters.
  const tsCases: Array<[string, () => RawRequest, ReturnType<typeof bad>]> = [
    ["no from", () => ts(`attributes=temperature&to=${TO}`), badParam("from")],
    ["from=yesterday", () => ts(`attributes=temperature&from=yesterday&to=${TO}`), badParam("from")],
    ["to before from", () => ts(`attributes=temperature&from=${TO}&to=${FROM}`), badParam("to")],
    ["a span of 32 days", () => ts(`attributes=temperature&from=${iso(32 * 86_400_000)}&to=${iso(0)}`), badParam("to")],
    ["from given twice", () => tsRange(`&from=${FROM}`), badParam("from")],
    ["from as an operator object", () => ts(`attributes=temperature&from[$gt]=0&to=${TO}`), badParam("from")],
    ["interval 7m", () => tsRange("&interval=7m"), badParam("interval")],
    ["interval 1y", () => tsRange("&interval=1y"), badParam("interval")],
    ["interval -1h", () => tsRange("&interval=-1h"), badParam("interval")],
    ["agg median", () => tsRange("&interval=1h&agg=median"), badParam("agg")],
    ["agg without interval", () => tsRange("&agg=avg"), badParam("interval")],
    ["tz Mars/Olympus", () => tsRange("&interval=1h&tz=Mars/Olympus"), badParam("tz")],
    ["tz as an SQL injection", () => tsRange(`&interval=1h&tz=${encodeURIComponent("UTC'; DROP TABLE entities;--")}`), badParam("tz")],
    ["tz with a NUL", () => tsRange("&interval=1h&tz=UTC%00"), badParam("tz")],
    ["tz of 65 characters", () => tsRange(`&interval=1h&tz=${"E".repeat(65)}`), badParam("tz")],
    ["no attributes", () => ts(`from=${FROM}&to=${TO}`), badParam("attributes")],
    ["attributes=,,,", () => ts(`attributes=,,,&from=${FROM}&to=${TO}`), badParam("attributes")],
    ["21 attributes", () => ts(`attributes=${Array.from({ length: 21 }, (_, i) => `a${i}`).join(",")}&from=${FROM}&to=${TO}`), badParam("attributes")],
    ["an unknown attribute", () => ts(`attributes=nope&from=${FROM}&to=${TO}`), bad(400, "unknown_attribute", "attributes")],
    ["an SQL injection as the attribute", () => ts(`attributes=${encodeURIComponent("status'; DROP TABLE entity_values_ts;--")}&from=${FROM}&to=${TO}`), bad(400, "unknown_attribute", "attributes")],
    ["a NUL in the attribute", () => ts(`attributes=status%00&from=${FROM}&to=${TO}`), bad(400, "unknown_attribute", "attributes")],
    ["limit=0", () => tsRange("&limit=0"), badParam("limit")],
    ["limit=1e3", () => tsRange("&limit=1e3"), badParam("limit")],
    ["limit=100001", () => tsRange("&limit=100001"), badParam("limit")],
    ["agg avg on a string attribute", () => ts(`attributes=status&from=${FROM}&to=${TO}&interval=1h&agg=avg`), badParam("agg")],
  ];
  for (const [what, req, expected] of tsCases) add("query", `time series with ${what}`, req, expected);
  // Search bodies and filters.
  add("query", "search with a NaN literal", () => search('{"filters":[],"limit":NaN}'), badJson);
  add("query", "search body null", () => search("null"), badJson);
  const filterCases: Array<[string, () => RawRequest, ReturnType<typeof bad>]> = [
    ["decimal eq 1e999", () => filter("temperature", "eq", "1e999"), badFilter()],
    ["decimal eq the string NaN", () => filter("temperature", "eq", '"NaN"'), badFilter()],
    ["decimal gt the string 1e999", () => filter("temperature", "gt", '"1e999"'), badFilter()],
    ["int eq a number beyond int64", () => filter("count", "eq", "99999999999999999999"), badFilter()],
    ["int eq digits beyond int64", () => filter("count", "eq", '"99999999999999999999"'), badFilter()],
    ["an SQL injection as the attribute", () => filter("status'; DROP TABLE entity_jsonb;--", "eq", '"x"'), bad(400, "unknown_attribute", "filters[0].attribute")],
    ["a JSON path as the attribute", () => filter("$.status", "eq", '"x"'), bad(400, "unknown_attribute", "filters[0].attribute")],
    ["a jsonb operator as the attribute", () => filter("hot->>'status'", "eq", '"x"'), bad(400, "unknown_attribute", "filters[0].attribute")],
    ["a NUL in the attribute", () => filter("status\u0000", "eq", '"x"'), bad(400, "unknown_attribute", "filters[0].attribute")],
    ["a number as the attribute", () => search('{"filters":[{"attribute":7,"op":"eq","value":1}]}'), badFilter("filters[0].attribute")],
    ["op like", () => filter("status", "like", '"%"'), badFilter("filters[0].op")],
    ["op $gt", () => filter("count", "$gt", "1"), badFilter("filters[0].op")],
    ["an operator object as the value", () => filter("status", "eq", '{"$ne":null}'), badFilter()],
    ["a NUL in a string value (eq)", () => filter("status", "eq", '"on\\u0000line"'), badFilter()],
    ["a NUL in a string value (gt)", () => filter("status", "gt", '"\\u0000"'), badFilter()],
    ["a NUL in a string value (in)", () => filter("status", "in", '["online","\\u0000"]'), badFilter()],
    ["an impossible timestamp", () => filter("seen", "eq", '"2026-13-45T99:99:99Z"'), badFilter()],
    ["in with 101 values", () => filter("count", "in", JSON.stringify(Array.from({ length: 101 }, (_, i) => i))), badFilter()],
    ["a string value of 4097 characters", () => filter("status", "eq", JSON.stringify("x".repeat(4097))), badFilter()],
    ["21 filters", () => search(JSON.stringify({ filters: Array.from({ length: 21 }, () => ({ attribute: "status", op: "eq", value: "x" })) })), badFilter("filters")],
    ["limit 0", () => search('{"limit":0}'), badParam("limit")],
    ["limit 1001", () => search('{"limit":1001}'), badParam("limit")],
    ["limit as a string", () => search('{"limit":"10"}'), badParam("limit")],
    ["limit 1e999", () => search('{"limit":1e999}'), badParam("limit")],
    ["a cursor with a forged signature", () => search(`{"cursor":"${Buffer.from('{"v":1}').toString("base64url")}.AAAAAAAAAAAAAAAAAAAAAA"}`), bad(400, "invalid_cursor", "cursor")],
    ["a cursor of 2,000 characters", () => search(JSON.stringify({ cursor: "a".repeat(2000) })), bad(400, "invalid_cursor", "cursor")],
    ["a cursor that is an object", () => search('{"cursor":{"u":"2026-01-01"}}'), bad(400, "invalid_cursor", "cursor")],
    ["a body over 256 KB", () => search(JSON.stringify({ filters: [], pad: "x".repeat(300 * 1024) })), bad(413, "payload_too_large")],
    ["a form body", () => search("filters=1", "application/x-www-form-urlencoded"), bad(415, "unsupported_media_type", "Content-Type")],
  ];
  for (const [what, req, expected] of filterCases) add("query", `search with ${what}`, req, expected);
  // Injection attempts that are well-formed values are just values: no match, no error.
  for (const v of ["' OR '1'='1", "\"}' ) OR true --", "online\"}, \"status\": \"x", "%' OR 1=1 --"]) {
    add("query", `search for the string ${JSON.stringify(v)}`, () => filter("status", "eq", JSON.stringify(v)), { status: 200, check: emptyOk });
  }
  // Analytics.
  add("query", "analytics granularity weekly", () => analytics(`attributes/temperature/weekly?from=${FROM}&to=${TO}`), badParam("granularity"));
  add("query", "analytics without from", () => hourly(`to=${TO}`), badParam("from"));
  add("query", "analytics from=garbage", () => hourly(`from=garbage&to=${TO}`), badParam("from"));
  add("query", "analytics to before from", () => hourly(`from=${TO}&to=${FROM}`), badParam("to"));
  add("query", "analytics hourly over 32 days", () => hourly(`from=${iso(32 * 86_400_000)}&to=${iso(0)}`), badParam("to"));
  add("query", "analytics attribute name of 129 characters", () => analytics(`attributes/${"a".repeat(129)}/hourly?from=${FROM}&to=${TO}`), badParam("name"));
  add("query", "analytics attribute name with a NUL", () => analytics(`attributes/temperature%00/hourly?from=${FROM}&to=${TO}`), bad(400, "invalid_text"));
  add("query", "analytics attribute name as an SQL injection", () => analytics(`attributes/${encodeURIComponent("x'; DROP TABLE fact_readings;--")}/hourly?from=${FROM}&to=${TO}`), bad(404, "not_found"));
  add("query", "analytics with X-Consistency-Level strong", () => analytics("entities/count-by-type", { "x-consistency-level": "strong" }), badHeader("X-Consistency-Level"));

  const outcomes: boolean[] = [];
  let rowsBefore: Array<Record<string, number>>;

  it(`the corpus holds at least 100 bad inputs (${corpus.length})`, async () => {
    expect(corpus.length).to.be.at.least(100);
    expect(new Set(corpus.map((c) => c.name)).size, "case names are unique").to.equal(corpus.length);
    rowsBefore = [await storedRows(db.pool, t.id), await storedRows(db.pool, reg.id)];
  });

  for (const c of corpus) {
    const expectation = c.code ? `${c.status} ${c.code}${c.field ? ` naming ${c.field}` : ""}` : String(c.status);
    it(`when ${c.on === "query" ? "the query API" : "ingest"} gets ${c.name}, then ${expectation}`, async () => {
      outcomes.push(false);
      const r = await send(urls[c.on], c.req());
      const show = `${r.status} ${r.text.slice(0, 300)}`;
      expect(r.status, show).to.equal(c.status);
      expect(leaksInternals(r.text), show).to.equal(false);
      expect(r.headers["content-type"], show).to.match(/^application\/json/);
      if (c.code) {
        expect(Object.keys(r.body), show).to.deep.equal(["error"]);
        expect(r.body.error.code, show).to.equal(c.code);
        expect(r.body.error.message, show).to.be.a("string").and.not.equal("");
        if (c.field) expect(r.body.error.field, show).to.equal(c.field);
        if (c.detail) expect(r.body.error.details?.[0]?.field, show).to.equal(c.detail);
      }
      c.check?.(r);
      outcomes[outcomes.length - 1] = true;
    });
  }

  it("after the corpus nothing of it is stored, and good requests still answer 202 and 200", async () => {
    const after = [await storedRows(db.pool, t.id), await storedRows(db.pool, reg.id)];
    expect(after).to.deep.equal(rowsBefore);
    const stored = Object.values(after[0]).reduce((a, b) => a + b, 0) - Object.values(rowsBefore[0]).reduce((a, b) => a + b, 0);
    const good = await send(ingest.url, telemetry(one({ entity_id: "2" })));
    expect(good.status, good.text).to.equal(202);
    const read = await send(query.url, get("/v1/entities/2", { "x-consistency-level": "strong" }));
    expect(read.status, read.text).to.equal(200);
    const answered = outcomes.filter(Boolean).length;
    console.log(`      abuse: ${corpus.length} inputs, ${answered} answered as documented, ${stored} stored, service up`);
    expect(answered).to.equal(corpus.length);
  });

  describe("slow-loris bodies", () => {
    it("when 20 sockets send a few bytes of a body and stall, then other requests of both APIs still answer at once", async () => {
      const stalled = await Promise.all(Array.from({ length: 20 }, () => slowLoris(ingest.url, "/v1/telemetry", t.key)));
      try {
        await new Promise((r) => setTimeout(r, 200)); // the server has them all in its body read
        const started = Date.now();
        const [w, q] = await Promise.all([send(ingest.url, telemetry(one({ entity_id: "3" }))), send(query.url, get("/v1/entities/1"))]);
        expect(w.status, w.text).to.equal(202);
        expect(q.status, q.text).to.equal(200);
        expect(Date.now() - started).to.be.below(2_000);
      } finally {
        for (const s of stalled) s.destroy();
      }
    });

    it("when a body stalls longer than the request timeout, then the server answers 408 and closes the socket", async () => {
      // The production frame (createServiceApp + listen) with a short request timeout, so the test need not wait 30 s.
      const app = createServiceApp({
        routers: [createIngestRouter({ config: testConfig(db.url, { KAFKA_BROKERS: undefined }), pool: db.pool, sink: new DirectSink({ pool: db.pool }) })],
        readiness: [],
        openapi,
      });
      const server: Server = await listen(app, 0, "127.0.0.1", { requestTimeoutMs: 1_000 });
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const s = await slowLoris(url, "/v1/telemetry", t.key);
        const started = Date.now();
        const answer = await new Promise<string>((resolve) => {
          let text = "";
          s.on("data", (d) => (text += d.toString()));
          s.on("close", () => resolve(text));
        });
        expect(answer).to.match(/^HTTP\/1\.1 408/);
        expect(Date.now() - started).to.be.below(5_000);
      } finally {
        await closeServer(server);
      }
    });
  });
});
