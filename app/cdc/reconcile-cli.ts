/**
 * `npm run reconcile [-- --tenant <uuid>] [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--wait-seconds N] [--json]`
 *
 * Compares per-tenant, per-day reading counts and checksums between the
 * primary (DATABASE_URL) and the warehouse (WAREHOUSE_URL), prints the
 * differences (and why: count or checksum), and exits 0 when they agree,
 * 1 when they differ, 2 when it could not compare (a database down, bad
 * arguments). --since defaults to the first day inside the retention window
 * (RETENTION_DAYS).
 *
 * `npm run reconcile -- --reprocess [--group <id>] [--json]` instead replays
 * the CDC dead-letter topic (KAFKA_BROKERS, WAREHOUSE_URL; dead-letters.ts)
 * from the group's committed offset (default atlas-cdc-reprocess): prints
 * what it applied and what still fails, exits 0 when nothing still fails,
 * 1 otherwise, 2 when it could not run.
 */
import { createKafka } from "../ingest/kafka";
import { loadConfigOrExit, requireSetting, type AtlasConfig } from "../shared/config";
import { createPool } from "../shared/db";
import { deadLetterTopicOf, reprocessDeadLetters, REPROCESS_GROUP_ID } from "./dead-letters";
import { reconcile, ReconcileOptions } from "./reconcile";

type Args = ReconcileOptions & { json: boolean; reprocess: boolean; group: string };

function parseArgs(argv: string[], retentionDays: number): Args {
  const out: Args = {
    since: new Date(Date.now() - (retentionDays - 1) * 86_400_000).toISOString().slice(0, 10),
    json: false,
    reprocess: false,
    group: REPROCESS_GROUP_ID,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === "--tenant") out.tenantId = value();
    else if (flag === "--since") out.since = value();
    else if (flag === "--until") out.until = value();
    else if (flag === "--wait-seconds") out.waitMs = Number(value()) * 1000;
    else if (flag === "--json") out.json = true;
    else if (flag === "--reprocess") out.reprocess = true;
    else if (flag === "--group") out.group = value();
    else throw new Error(`unknown argument ${flag} (known: --tenant, --since, --until, --wait-seconds, --json, --reprocess, --group)`);
  }
  return out;
}

const print = (line: string) => process.stdout.write(line + "\n");

async function compare(config: AtlasConfig, opts: Args): Promise<number> {
  const primary = createPool(requireSetting(config, "DATABASE_URL"), "reconcile-primary", { max: 2, statementTimeoutMs: 600_000 });
  const warehouse = createPool(requireSetting(config, "WAREHOUSE_URL"), "reconcile-warehouse", { max: 2, statementTimeoutMs: 600_000 });
  try {
    const r = await reconcile(primary, warehouse, opts);
    if (opts.json) {
      print(JSON.stringify(r));
    } else {
      const scope = `${opts.tenantId ? `tenant ${opts.tenantId}, ` : ""}days ${opts.since}..${opts.until ?? "today"}`;
      print(`reconcile: ${scope}: ${r.compared} tenant-day(s), primary ${r.primaryTotal} reading(s), warehouse ${r.warehouseTotal}`);
      if (!r.caughtUp) print("warning: the warehouse had not caught up with the primary when counting (is the loader running?)");
      if (r.differences.length === 0) {
        print("no differences");
      } else {
        print(`${"tenant_id".padEnd(36)}  day         ${"primary".padStart(10)}  ${"warehouse".padStart(10)}  ${"diff".padStart(8)}  why`);
        for (const d of r.differences) {
          print(
            `${d.tenant_id.padEnd(36)}  ${d.day}  ${String(d.primary).padStart(10)}  ${String(d.warehouse).padStart(10)}  ${String(d.warehouse - d.primary).padStart(8)}  ${d.why}`,
          );
        }
        print(`${r.differences.length} difference(s)`);
      }
    }
    return r.differences.length === 0 ? 0 : 1;
  } finally {
    await Promise.all([primary.end(), warehouse.end()]);
  }
}

async function reprocess(config: AtlasConfig, opts: Args): Promise<number> {
  const kafka = createKafka({ brokers: requireSetting(config, "KAFKA_BROKERS"), ssl: config.KAFKA_SSL, clientId: `atlas-cdc-reprocess-${process.pid}` });
  const warehouse = createPool(requireSetting(config, "WAREHOUSE_URL"), "reprocess-warehouse", { max: 2, statementTimeoutMs: 600_000 });
  try {
    const r = await reprocessDeadLetters({ kafka, warehouse, groupId: opts.group });
    if (opts.json) {
      print(JSON.stringify(r));
    } else {
      print(
        `reprocess: ${deadLetterTopicOf()} (group ${opts.group}): ${r.read} dead letter(s) read, ${r.applied} applied, ` +
          `${r.duplicates} duplicate(s), ${r.empty} with nothing to load, ${r.stillFailing.length} still failing (re-queued)`,
      );
      for (const f of r.stillFailing) print(`  ${f.topic}/${f.partition}@${f.offset} (attempt ${f.attempts}): ${f.reason}`);
    }
    return r.stillFailing.length === 0 ? 0 : 1;
  } finally {
    await warehouse.end();
  }
}

async function main(): Promise<number> {
  const config = loadConfigOrExit();
  const opts = parseArgs(process.argv.slice(2), config.RETENTION_DAYS);
  return opts.reprocess ? reprocess(config, opts) : compare(config, opts);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`reconcile: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
