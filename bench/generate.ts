/**
 * The synthetic workload: tenants, entities, ~10k attribute kinds per tenant
 * (~20 % hot), skewed (Zipf-like) activity, typed values. Deterministic: the
 * readings of POST number i depend only on (seed, i), so the baselines can
 * regenerate exactly the rows the ingest path was sent.
 *
 * Model. Every entity reports a few COMMON attributes (status, battery, rssi,
 * online, …: what a fleet search filters on) plus attributes of its entity
 * type; the attribute kinds beyond the common ones are split between the
 * entity types (about 50 per type), so all ~10k kinds occur. A reading
 * carries `valuesPerReading` distinct attributes of its entity, drawn with a
 * Zipf skew over [common…, type-specific…] (common ones most often). Which
 * entity reports is Zipf-skewed too (a few chatty devices, a long tail).
 */
import type { DataType } from "../app/ingest/types";

// ---------- randomness ----------

/** mulberry32: small, fast, good enough for workloads; deterministic per seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** A seed mixed from several integers (so post i's stream does not overlap post i+1's). */
export function mix(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x01000193);
    h ^= h >>> 13;
  }
  return h >>> 0;
}

/** Samples 0..n-1 with P(i) ∝ 1/(i+1)^s, by binary search in the cumulative table. */
export class Zipf {
  private readonly cdf: Float64Array;
  constructor(readonly n: number, readonly s: number) {
    this.cdf = new Float64Array(n);
    let acc = 0;
    for (let i = 0; i < n; i++) this.cdf[i] = acc += 1 / Math.pow(i + 1, s);
    for (let i = 0; i < n; i++) this.cdf[i] /= acc;
  }
  sample(rng: Rng): number {
    const u = rng.next();
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

// ---------- catalog ----------

export interface AttributeSpec {
  index: number;
  name: string;
  type: DataType;
  hot: boolean;
}

/** The common attributes every entity reports (index 0..9), hot ones searchable. */
export const COMMON: ReadonlyArray<Omit<AttributeSpec, "index">> = [
  { name: "status", type: "string", hot: true },
  { name: "battery", type: "decimal", hot: true },
  { name: "rssi", type: "int", hot: true },
  { name: "online", type: "bool", hot: true },
  { name: "firmware", type: "string", hot: true },
  { name: "temperature", type: "decimal", hot: false },
  { name: "last_seen", type: "timestamp", hot: true },
  { name: "uptime_s", type: "int", hot: false },
  { name: "voltage", type: "decimal", hot: false },
  { name: "error_code", type: "int", hot: false },
];

export const STATUSES = ["ok", "ok", "ok", "ok", "ok", "ok", "warn", "warn", "error", "offline"];
export const FIRMWARES = ["1.0.0", "1.1.0", "1.2.0", "1.2.1", "2.0.0"];
const TYPE_MIX: DataType[] = ["decimal", "decimal", "decimal", "decimal", "decimal", "int", "int", "string", "bool", "timestamp"];

export interface WorkloadOptions {
  seed: number;
  tenants: number;
  /** Entities over all tenants. */
  entities: number;
  /** Attribute kinds per tenant. */
  attributes: number;
  /** Fraction of attribute kinds that are hot. */
  hotFraction: number;
  valuesPerReading: number;
  readingsPerPost: number;
  /** Zipf exponent of entity activity. Defaults to 0.9. */
  entitySkew?: number;
  /** Zipf exponent of attribute choice within an entity. Defaults to 1.0. */
  attributeSkew?: number;
}

export interface Reading {
  tenant: number;
  entityId: number;
  entityType: string;
  tsMs: number;
  /** [attribute index, typed value] */
  values: Array<[number, number | string | boolean]>;
}

const ATTRS_PER_TYPE = 50;

export class Workload {
  readonly catalog: AttributeSpec[];
  readonly entitiesPerTenant: number;
  readonly types: number;
  private readonly entityZipf: Zipf;
  private readonly poolZipf: Zipf;
  private readonly perType: number;

  constructor(readonly opts: WorkloadOptions) {
    if (opts.attributes < COMMON.length + 1) throw new Error(`--attributes must be at least ${COMMON.length + 1}`);
    this.entitiesPerTenant = Math.max(1, Math.floor(opts.entities / opts.tenants));
    this.catalog = COMMON.map((c, index) => ({ ...c, index }));
    const rest = opts.attributes - COMMON.length;
    // Hot flags spread evenly so the overall fraction is hotFraction (the common ones count too).
    const hotWanted = Math.round(opts.attributes * opts.hotFraction) - COMMON.filter((c) => c.hot).length;
    for (let i = 0; i < rest; i++) {
      const index = COMMON.length + i;
      const hot = hotWanted > 0 && Math.floor(((i + 1) * hotWanted) / rest) > Math.floor((i * hotWanted) / rest);
      this.catalog.push({ index, name: `m${String(i).padStart(5, "0")}`, type: TYPE_MIX[mix(opts.seed, i) % TYPE_MIX.length], hot });
    }
    this.types = Math.max(1, Math.floor(rest / ATTRS_PER_TYPE));
    this.perType = Math.max(1, Math.floor(rest / this.types));
    this.entityZipf = new Zipf(this.entitiesPerTenant, opts.entitySkew ?? 0.9);
    this.poolZipf = new Zipf(COMMON.length + this.perType, opts.attributeSkew ?? 1.0);
  }

  get totalEntities(): number {
    return this.entitiesPerTenant * this.opts.tenants;
  }

  entityTypeIndex(entityId: number): number {
    return mix(this.opts.seed, entityId, 7) % this.types;
  }

  entityType(entityId: number): string {
    return `type-${this.entityTypeIndex(entityId)}`;
  }

  /** The attribute index of position p in an entity's pool [common…, its type's…]. */
  private poolAttribute(typeIndex: number, p: number): number {
    return p < COMMON.length ? p : COMMON.length + typeIndex * this.perType + (p - COMMON.length);
  }

  value(spec: AttributeSpec, rng: Rng, tsMs: number): number | string | boolean {
    switch (spec.name) {
      case "status":
        return STATUSES[rng.int(STATUSES.length)];
      case "firmware":
        return FIRMWARES[rng.int(FIRMWARES.length)];
      case "battery":
        return Math.round(rng.next() * 10000) / 100;
      case "rssi":
        return -30 - rng.int(70);
      case "online":
        return rng.next() < 0.9;
    }
    switch (spec.type) {
      case "decimal":
        return Math.round(rng.next() * 100000) / 100;
      case "int":
        return rng.int(10000);
      case "bool":
        return rng.next() < 0.5;
      case "string":
        return `s${rng.int(20)}`;
      case "timestamp":
        return new Date(tsMs - rng.int(3_600_000)).toISOString();
    }
  }

  /** One reading of an entity at tsMs: `n` distinct attributes of its pool, skewed. */
  reading(tenant: number, entityId: number, tsMs: number, rng: Rng, n = this.opts.valuesPerReading): Reading {
    const t = this.entityTypeIndex(entityId);
    const picked = new Set<number>();
    const want = Math.min(n, COMMON.length + this.perType);
    for (let guard = 0; picked.size < want && guard < want * 20; guard++) picked.add(this.poolZipf.sample(rng));
    for (let p = 0; picked.size < want; p++) picked.add(p);
    const values: Reading["values"] = [];
    for (const p of picked) {
      const a = this.poolAttribute(t, p);
      values.push([a, this.value(this.catalog[a], rng, tsMs)]);
    }
    return { tenant, entityId, entityType: this.entityType(entityId), tsMs, values };
  }

  /** The first reading of an entity (seeding): every common attribute plus a few of its type's. */
  seedReading(tenant: number, entityId: number, tsMs: number): Reading {
    const rng = new Rng(mix(this.opts.seed, tenant, entityId, 1));
    const t = this.entityTypeIndex(entityId);
    const values: Reading["values"] = [];
    for (let p = 0; p < COMMON.length + 4; p++) {
      const a = this.poolAttribute(t, p);
      values.push([a, this.value(this.catalog[a], rng, tsMs)]);
    }
    return { tenant, entityId, entityType: this.entityType(entityId), tsMs, values };
  }

  /**
   * The readings of ingest POST number `post`: one tenant (round robin),
   * `readingsPerPost` readings of Zipf-chosen entities, each at its own
   * millisecond (`baseMs + post * readingsPerPost + r`), so no two readings
   * of the run share a primary key.
   */
  post(post: number, baseMs: number): { tenant: number; readings: Reading[] } {
    const tenant = post % this.opts.tenants;
    const rng = new Rng(mix(this.opts.seed, post, 2));
    const readings: Reading[] = [];
    const per = this.opts.readingsPerPost;
    for (let r = 0; r < per; r++) {
      const entityId = 1 + this.entityZipf.sample(rng);
      readings.push(this.reading(tenant, entityId, baseMs + post * per + r, rng));
    }
    return { tenant, readings };
  }
}

/** The JSON body of POST /v1/telemetry, built as a string (cheaper than JSON.stringify of objects). */
export function postBody(w: Workload, readings: Reading[]): string {
  const parts: string[] = [];
  for (const r of readings) {
    const vals = r.values.map(([a, v]) => `"${w.catalog[a].name}":${typeof v === "string" ? `"${v}"` : v}`).join(",");
    parts.push(`{"entity_id":${r.entityId},"entity_type":"${r.entityType}","ts":"${new Date(r.tsMs).toISOString()}","values":{${vals}}}`);
  }
  return `{"readings":[${parts.join(",")}]}`;
}
