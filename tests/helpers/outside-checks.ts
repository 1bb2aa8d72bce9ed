/**
 * The outside tools our conventions are checked with: `promtool check
 * metrics` (Debian's prometheus package, installed by
 * scripts/debian-packages.sh from npm test) for /metrics, and
 * @apidevtools/swagger-parser for /openapi.json.
 */
import SwaggerParser from "@apidevtools/swagger-parser";
import { spawnSync } from "child_process";

/** promtool's findings on a /metrics body: [] when it passes. Throws when promtool is not installed. */
export function promtoolProblems(exposition: string): string[] {
  const r = spawnSync("promtool", ["check", "metrics"], { input: exposition, encoding: "utf8" });
  if (r.error) throw new Error(`promtool is not installed (bash scripts/debian-packages.sh installs it): ${r.error.message}`);
  if (r.status === 0) return [];
  return `${r.stdout}${r.stderr}`.split("\n").filter((l) => l.trim() !== "");
}

/** Validates a served OpenAPI document (schema and every $ref); throws what is wrong. */
export async function validateOpenApi(doc: unknown): Promise<void> {
  await SwaggerParser.validate(doc as never);
}
