/**
 * `npm run db:migrate`: applies db/migrations to DATABASE_URL.
 * Prints one line per applied file and a summary; exits 1 on failure.
 * ATLAS_PARTITIONING=partman|native|auto forces the history partitioning path
 * on a fresh database (default auto).
 */
import { loadConfigOrExit, requireSetting } from "../app/shared/config";
import { migrate, Partitioning } from "./migrate";

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const url = requireSetting(config, "DATABASE_URL");
  const partitioning = (process.env.ATLAS_PARTITIONING ?? "auto") as Partitioning;
  if (!["auto", "partman", "native"].includes(partitioning)) {
    throw new Error(`ATLAS_PARTITIONING must be auto, partman or native, got ${partitioning}`);
  }
  const { applied } = await migrate(url, { partitioning, log: (line) => process.stdout.write(`${line}\n`) });
  process.stdout.write(applied.length === 0 ? "database is up to date\n" : `applied ${applied.length} migration(s)\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`db:migrate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
