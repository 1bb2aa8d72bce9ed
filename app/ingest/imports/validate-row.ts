/**
 * One import row through the ingest validation (../validate.ts), with what an
 * import adds:
 * - `ts` is required: a historical reading without its device time would be
 *   stamped with the upload's time, which is never what a backfill means.
 * - Unknown attributes follow the tenant's policy as POST /v1/telemetry does
 *   (refresh the registry on a miss; under `register`, register the inferred
 *   type). Unlike a telemetry request, an import's rows stand alone, so a row
 *   registers its new attributes at once instead of once the whole body is
 *   valid. A registration that loses a race to another type rejects the row.
 * - The windows are measured from the time each chunk starts (an import
 *   lasts long; retention and clock skew keep their meaning).
 */
import { AppError } from "../../shared/http/errors";
import type { TenantSettings } from "../../shared/tenant-settings";
import type { AcceptLimits } from "../accept";
import type { AttributeRegistry } from "../registry";
import { onlyRegistrable, validateReading, type AttributeDef, type ReadingError, type ReadingResult, type ValidationContext } from "../validate";
import type { ValidReading } from "../types";

const DAY_MS = 86_400_000;
const TS_REQUIRED = "is required in an import (without it the reading would be stamped with the upload time)";

export type RowCheck = { ok: true; reading: ValidReading } | { ok: false; errors: Array<Omit<ReadingError, "index">> };

export class RowValidator {
  private attrs: { byName: Map<string, AttributeDef> } = { byName: new Map() };
  private readonly ctx: ValidationContext;

  constructor(
    private readonly registry: AttributeRegistry,
    private readonly tenantId: string,
    private readonly settings: TenantSettings,
    limits: AcceptLimits,
  ) {
    this.ctx = {
      lookup: (name) => this.attrs.byName.get(name),
      maxAttributes: limits.maxAttributes,
      nowMs: Date.now(),
      liveWindowMs: (settings.liveWindowSeconds ?? limits.liveWindowSeconds) * 1000,
      maxSkewMs: limits.maxClockSkewSeconds * 1000,
      maxAgeMs: (settings.retentionDays ?? limits.retentionDays) * DAY_MS,
    };
  }

  /** Loads the tenant's attributes; call before the first row. */
  async load(): Promise<void> {
    this.attrs = await this.registry.forTenant(this.tenantId);
  }

  /** Moves the reference time of the windows to now. */
  tick(): void {
    this.ctx.nowMs = Date.now();
  }

  /**
   * The row's verdict: synchronous unless the row names an attribute this
   * process does not know (then the registry is asked), so the million rows
   * of a file of known attributes cost no promise each.
   */
  check(raw: unknown): RowCheck | Promise<RowCheck> {
    const result = validateReading(raw, 0, this.ctx);
    if (!result.ok && result.unknown.size > 0) return this.checkUnknown(raw, result);
    return this.verdict(raw, result);
  }

  private async checkUnknown(raw: unknown, first: ReadingResult): Promise<RowCheck> {
    let result = first;
    if (await this.registry.refresh(this.tenantId)) {
      await this.load(); // registered since this process loaded the tenant (another task, an earlier row)?
      result = validateReading(raw, 0, this.ctx);
    }
    if (!result.ok && this.settings.unknownAttributes === "register" && onlyRegistrable(result)) {
      for (const [name, type] of result.unknown) {
        try {
          await this.registry.register(this.tenantId, name, type!, undefined);
        } catch (err) {
          if (err instanceof AppError && err.status === 409) return { ok: false, errors: [{ field: `values.${name}`, reason: err.message }] };
          throw err;
        }
      }
      await this.load();
      result = validateReading(raw, 0, this.ctx);
    }
    return this.verdict(raw, result);
  }

  private verdict(raw: unknown, result: ReadingResult): RowCheck {
    const ts = (raw as { ts?: unknown } | null)?.ts;
    const missingTs = typeof raw === "object" && raw !== null && !Array.isArray(raw) && (ts === undefined || ts === null);
    if (result.ok && !missingTs) return { ok: true, reading: result.reading };
    const errors: Array<Omit<ReadingError, "index">> = result.ok ? [] : result.errors.map(({ field, reason }) => ({ field, reason }));
    if (missingTs) errors.push({ field: "ts", reason: TS_REQUIRED });
    return { ok: false, errors };
  }
}
