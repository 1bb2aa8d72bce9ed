/**
 * Where a Node process spent its CPU: a V8 .cpuprofile (node --cpu-prof)
 * summarised as self time per function and per package/file.
 */
import fs from "fs";
import path from "path";
import { REPO } from "./services";

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  total_ms: number;
  top_functions: Array<{ fn: string; self_ms: number; pct: number }>;
  by_area: Array<{ area: string; self_ms: number; pct: number }>;
}

/** The package or app file a frame belongs to. */
function areaOf(url: string, fn: string): string {
  if (!url) return fn.startsWith("(") ? fn : "(native)";
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/")[0]}`;
  const rel = path.relative(path.join(REPO, "bench", ".build"), url.replace(/^file:\/\//, ""));
  return rel.startsWith("..") ? path.relative(REPO, url.replace(/^file:\/\//, "")) : rel;
}

export function summarizeProfile(file: string, top = 12): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const fns = new Map<string, number>();
  const areas = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    const area = areaOf(url, functionName);
    const key = `${functionName || "(anonymous)"} ${area}${url ? `:${lineNumber + 1}` : ""}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    areas.set(area, (areas.get(area) ?? 0) + us);
    total += us;
  }
  const rank = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => ({ k, self_ms: Math.round(us / 1000), pct: Math.round((1000 * us) / total) / 10 }));
  return {
    file: path.relative(REPO, file),
    total_ms: Math.round(total / 1000),
    top_functions: rank(fns).map(({ k, ...r }) => ({ fn: k, ...r })),
    by_area: rank(areas).map(({ k, ...r }) => ({ area: k, ...r })),
  };
}
