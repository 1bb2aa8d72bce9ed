/**
 * Direct mode (no KAFKA_BROKERS, the embedded default of `npm start`): the
 * API hands a request's readings straight to the writer's storage step, in
 * ONE transaction per request, so a request is stored whole or not at all.
 * 202 is sent after COMMIT.
 */
import type { Redis } from "ioredis";
import { type Pool } from "../shared/db";
import { unavailable } from "../shared/http/errors";
import { log } from "../shared/log";
import { toMessages } from "./messages";
import { registryFor } from "./registry";
import type { ReadingBatch, ReadingSink, TelemetryMessage } from "./types";
import { invalidateTouched } from "./writer/invalidate";
import { isDataError, storeBatch } from "./writer/store-batch";
import { recordStored } from "./writer/metrics";

export interface DirectSinkOptions {
  pool: Pool;
  /** Redis to invalidate after commit, when a cache is configured. */
  redis?: Redis;
  cacheTtlSeconds?: number;
}

export class DirectSink implements ReadingSink {
  readonly kind = "direct" as const;
  constructor(private readonly opts: DirectSinkOptions) {}

  async publish(tenantId: string, batch: ReadingBatch): Promise<void> {
    const { pool } = this.opts;
    const registry = registryFor(pool);
    await registry.forTenant(tenantId);
    async function* messages(): AsyncGenerator<TelemetryMessage[]> {
      for await (const chunk of batch.chunks()) {
        yield toMessages(tenantId, batch.receivedAt, chunk).map((m) => m.message);
      }
    }
    const started = process.hrtime.bigint();
    try {
      const result = await storeBatch(pool, messages(), (t, id) => registry.typeOf(t, id));
      recordStored(result.values, batch.readings, started, "direct");
      if (this.opts.redis) await invalidateTouched(this.opts.redis, result.touched, this.opts.cacheTtlSeconds ?? 60);
    } catch (err) {
      if (isDataError(err)) throw err; // a bug in validation; surfaces as 500 and is logged
      const code = (err as { code?: string }).code ?? "";
      log.warn("direct write failed; answering 503", { tenant_id: tenantId, error: err, sqlstate: code });
      throw unavailable("database", 2);
    }
  }

  async ready(): Promise<void> {
    await this.opts.pool.query("SELECT 1");
  }

  async close(): Promise<void> {
    // The pool belongs to the caller.
  }
}
