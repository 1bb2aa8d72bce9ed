/**
 * The ingest use-case between the HTTP route and the sink: validate every
 * reading of a request against the tenant's registry (registering unknown
 * attributes when the tenant says so, once the whole request is valid),
 * spool the valid ones compactly, and reject the whole request listing every
 * bad reading when any is bad.
 */
import { AppError } from "../shared/http/errors";
import { counter } from "../shared/http/metrics";
import type { TenantSettings } from "../shared/tenant-settings";
import type { EntityTypes } from "./entity-types";
import type { AttributeRegistry } from "./registry";
import { ReadingSpool } from "./spool";
import type { ReadingBatch, ValidReading } from "./types";
import { ErrorCollector, onlyRegistrable, validateReading, type AttributeDef, type ValidationContext } from "./validate";

export const accepted = counter("atlas_ingest_readings_accepted_total", "Readings accepted (published or committed)", ["lane"]);
export const rejected = counter("atlas_ingest_readings_rejected_total", "Readings in rejected requests", ["reason"]);

/** A line of an NDJSON body that is not JSON. */
export class UnparsableLine {
  constructor(readonly reason: string) {}
}

export interface AcceptLimits {
  maxReadings: number;
  maxAttributes: number;
  liveWindowSeconds: number;
  maxClockSkewSeconds: number;
  retentionDays: number;
}

export interface CollectedBatch extends ReadingBatch {
  live: number;
  backfill: number;
}

/**
 * Validates `source` (raw reading objects, in request order). Throws an
 * AppError: 400 invalid_readings listing the bad readings, or 413 when there
 * are more than `maxReadings`. Resolves with the spooled batch otherwise.
 */
export async function collectReadings(
  tenantId: string,
  source: AsyncIterable<unknown> | Iterable<unknown>,
  settings: TenantSettings,
  registry: AttributeRegistry,
  limits: AcceptLimits,
  entityTypes: EntityTypes,
): Promise<CollectedBatch> {
  const receivedAt = new Date();
  let attrs = await registry.forTenant(tenantId);
  // Under "register", unknown names are registered only once the whole request
  // is valid (a refused request leaves nothing behind, not even attributes).
  // Until then they have provisional definitions: negative ids, the type
  // inferred from their first value.
  const provisional = new Map<string, AttributeDef>();
  const ctx: ValidationContext = {
    lookup: (name) => attrs.byName.get(name) ?? provisional.get(name),
    maxAttributes: limits.maxAttributes,
    nowMs: receivedAt.getTime(),
    liveWindowMs: (settings.liveWindowSeconds ?? limits.liveWindowSeconds) * 1000,
    maxSkewMs: limits.maxClockSkewSeconds * 1000,
    maxAgeMs: (settings.retentionDays ?? limits.retentionDays) * 86_400_000,
  };
  const spool = new ReadingSpool();
  const errors = new ErrorCollector(100);
  let index = 0;
  let live = 0;
  let backfill = 0;
  // The type each entity of the request is named with, and where first.
  const named = new Map<string, { type: string; index: number }>();

  for await (const raw of source) {
    const i = index++;
    if (i >= limits.maxReadings) {
      rejected.inc({ reason: "too_many_readings" });
      throw new AppError(413, "too_many_readings", `more than ${limits.maxReadings} readings in one request`, "readings");
    }
    if (raw instanceof UnparsableLine) {
      errors.add([{ index: i, field: "reading", reason: raw.reason }]);
      continue;
    }
    let result = validateReading(raw, i, ctx);
    if (!result.ok && result.unknown.size > 0 && (await registry.refresh(tenantId))) {
      // Registered since this process loaded the tenant (another API task)?
      attrs = await registry.forTenant(tenantId);
      result = validateReading(raw, i, ctx);
    }
    if (!result.ok && settings.unknownAttributes === "register" && onlyRegistrable(result)) {
      for (const [name, type] of result.unknown) {
        if (!provisional.has(name)) provisional.set(name, { id: -(provisional.size + 1), name, type: type!, hot: false });
      }
      result = validateReading(raw, i, ctx);
    }
    if (!result.ok) {
      errors.add(result.errors);
      if (spool.count > 0) spool.clear(); // nothing of this request will be stored: free the memory now
      continue;
    }
    const { entityId, entityType } = result.reading;
    if (entityType !== null) {
      const first = named.get(entityId);
      if (first === undefined) named.set(entityId, { type: entityType, index: i });
      else if (first.type !== entityType) {
        errors.add([{ index: i, field: "entity_type", reason: `'${entityType}' differs from '${first.type}', the type reading ${first.index} names for entity ${entityId}` }]);
        if (spool.count > 0) spool.clear();
        continue;
      }
    }
    if (errors.empty) {
      spool.append(result.reading);
      if (result.reading.lane === "live") live++;
      else backfill++;
    }
  }

  if (index === 0) {
    rejected.inc({ reason: "empty" });
    throw new AppError(400, "invalid_readings", "the request holds no readings", "readings");
  }
  if (errors.empty && named.size > 0) {
    for (const c of await entityTypes.conflicts(tenantId, named)) errors.add([{ index: c.index, field: "entity_type", reason: c.reason }]);
  }
  if (!errors.empty) {
    rejected.inc({ reason: "invalid" }, index);
    throw new AppError(400, "invalid_readings", errors.message(index), "readings", errors.listed);
  }
  // A concurrent registration with another type is a 409 attribute_type_conflict.
  const realIds = new Map<number, number>();
  for (const def of provisional.values()) {
    const { attribute } = await registry.register(tenantId, def.name, def.type, undefined);
    realIds.set(def.id, attribute.attribute_id);
  }
  return {
    receivedAt,
    readings: spool.count,
    values: spool.values,
    live,
    backfill,
    chunks: realIds.size === 0 ? () => spool.chunks(2_000) : () => withRealIds(spool.chunks(2_000), realIds),
  };
}

/** The spooled readings with provisional attribute ids replaced by the registered ones. */
async function* withRealIds(chunks: AsyncIterable<ValidReading[]>, ids: Map<number, number>): AsyncGenerator<ValidReading[]> {
  for await (const chunk of chunks) {
    for (const r of chunk) for (const v of r.values) if (v[0] < 0) v[0] = ids.get(v[0])!;
    yield chunk;
  }
}
