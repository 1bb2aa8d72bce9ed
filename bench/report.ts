/** The terminal table and bench/results/latest.json. */
import fs from "fs";
import path from "path";
import { REPO } from "./services";

export interface Row {
  metric: string;
  value: number | string | null | undefined;
  unit?: string;
  /** e.g. ">= 100000" or "<= 5"; checked when the value is a number. */
  target?: string;
}

function verdict(value: Row["value"], target?: string): string {
  if (!target || typeof value !== "number" || !Number.isFinite(value)) return "";
  const m = /^(>=|<=)\s*([\d.]+)$/.exec(target);
  if (!m) return "";
  const ok = m[1] === ">=" ? value >= Number(m[2]) : value <= Number(m[2]);
  return ok ? "ok" : "MISS";
}

export function table(rows: Row[]): string {
  const cells = rows.map((r) => [
    r.metric,
    r.value === null || r.value === undefined ? "n/a" : typeof r.value === "number" ? r.value.toLocaleString("en-US", { maximumFractionDigits: 2 }) : r.value,
    r.unit ?? "",
    r.target ?? "",
    verdict(r.value, r.target),
  ]);
  const head = ["metric", "value", "unit", "target", ""];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => String(c[i]).length)));
  const line = (c: string[]) => c.map((x, i) => (i === 1 ? String(x).padStart(widths[i]) : String(x).padEnd(widths[i]))).join("  ").trimEnd();
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map((c) => line(c.map(String)))].join("\n");
}

export function targetsOf(rows: Row[]): Record<string, { value: Row["value"]; target: string; met: boolean | null }> {
  const out: Record<string, { value: Row["value"]; target: string; met: boolean | null }> = {};
  for (const r of rows) if (r.target) {
    const v = verdict(r.value, r.target);
    out[r.metric] = { value: r.value ?? null, target: r.target, met: v === "" ? null : v === "ok" };
  }
  return out;
}

/**
 * The default run and --scale measure the same keys under `query` and
 * `scale`: each keeps the other's section (and its targets) from the
 * previous latest.json, so one file holds both. Sections in `keys` that the
 * new document lacks are copied over.
 */
export function carryOver<T extends { targets: Record<string, unknown> }>(doc: T, keys: string[], file = path.join(REPO, "bench", "results", "latest.json")): T {
  let previous: Record<string, unknown> & { targets?: Record<string, unknown> };
  try {
    previous = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return doc;
  }
  const out: Record<string, unknown> & { targets: Record<string, unknown> } = { ...doc, targets: { ...doc.targets } };
  for (const k of keys) {
    if (k in out || !(k in previous)) continue;
    out[k] = { ...(previous[k] as object), carried_from: previous.generated_at };
    for (const [metric, t] of Object.entries(previous.targets ?? {})) if (metric.startsWith(`${k}.`) && !(metric in out.targets)) out.targets[metric] = t;
  }
  return out as T;
}

export function writeResults(doc: object, file = path.join(REPO, "bench", "results", "latest.json")): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(doc, null, 2) + "\n");
  const stamped = path.join(path.dirname(file), `run-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  fs.copyFileSync(file, stamped);
  return path.relative(REPO, file);
}
