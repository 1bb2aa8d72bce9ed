/**
 * `npm run reconcile [-- --tenant <uuid>] [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--wait-seconds N] [--json]`
 *
 * Compares per-tenant, per-day reading counts between the primary
 * (DATABASE_URL) and the warehouse (WAREHOUSE_URL), prints the differences,
 * and exits 0 when they agree, 1 when they differ, 2 when it could not
 * compare (a database down, bad arguments).
 * --since defaults to the first day inside the retention window (RETENTION_DAYS).
 */
import { loadConfigOrExit, requireSetting } from "../shared/config";
import { createPool } from "../shared/db";
import { reconcile, ReconcileOptions } from "./reconcile";

function parseArgs(argv: string[], retentionDays: number): ReconcileOptions & { json: boolean } {
  const out: ReconcileOptions & { json: boolean } = {
    since: new Date(Date.now() - (retentionDays - 1) * 86_400_000).toISOString().slice(0, 10),
    json: false,
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
    else throw new Error(`unknown argument ${flag} (known: --tenant, --since, --until, --wait-seconds, --json)`);
  }
  return out;
}

async function main(): Promise<number> {
  const config = loadConfigOrExit();
  const opts = parseArgs(process.argv.slice(2), config.RETENTION_DAYS);
  const primary = createPool(requireSetting(config, "DATABASE_URL"), "reconcile-primary", { max: 2, statementTimeoutMs: 600_000 });
  const warehouse = createPool(requireSetting(config, "WAREHOUSE_URL"), "reconcile-warehouse", { max: 2, statementTimeoutMs: 600_000 });
  try {
    const r = await reconcile(primary, warehouse, opts);
    if (opts.json) {
      process.stdout.write(JSON.stringify(r) + "\n");
    } else {
      const scope = `${opts.tenantId ? `tenant ${opts.tenantId}, ` : ""}days ${opts.since}..${opts.until ?? "today"}`;
      process.stdout.write(
        `reconcile: ${scope}: ${r.compared} tenant-day(s), primary ${r.primaryTotal} reading(s), warehouse ${r.warehouseTotal}\n`,
      );
      if (!r.caughtUp) process.stdout.write("warning: the warehouse had not caught up with the primary when counting (is the loader running?)\n");
      if (r.differences.length === 0) {
        process.stdout.write("no differences\n");
      } else {
        process.stdout.write(`${"tenant_id".padEnd(36)}  day         ${"primary".padStart(10)}  ${"warehouse".padStart(10)}  ${"diff".padStart(8)}\n`);
        for (const d of r.differences) {
          process.stdout.write(
            `${d.tenant_id.padEnd(36)}  ${d.day}  ${String(d.primary).padStart(10)}  ${String(d.warehouse).padStart(10)}  ${String(d.warehouse - d.primary).padStart(8)}\n`,
          );
        }
        process.stdout.write(`${r.differences.length} difference(s)\n`);
      }
    }
    return r.differences.length === 0 ? 0 : 1;
  } finally {
    await Promise.all([primary.end(), warehouse.end()]);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`reconcile: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
