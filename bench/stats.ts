/**
 * Numbers the bench reports: percentiles of latency samples, and resource
 * samples of processes read from /proc (resident memory, CPU time).
 */
import fs from "fs";

export interface Summary {
  count: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  mean_ms: number;
  max_ms: number;
}

/** Nearest-rank percentile of ascending samples (q in 0..1). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

const round = (x: number, digits = 2) => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x);

export function summarize(samplesMs: readonly number[]): Summary {
  const s = [...samplesMs].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return {
    count: s.length,
    p50_ms: round(percentile(s, 0.5)),
    p95_ms: round(percentile(s, 0.95)),
    p99_ms: round(percentile(s, 0.99)),
    mean_ms: round(mean),
    max_ms: round(s.length ? s[s.length - 1] : NaN),
  };
}

export { round };

/** Milliseconds since `startNs` (process.hrtime.bigint()). */
export const sinceMs = (startNs: bigint) => Number(process.hrtime.bigint() - startNs) / 1e6;

// ---------- /proc sampling ----------

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux x86-64 and arm64

/** Resident memory of a process, bytes: current (VmRSS) and the kernel's peak (VmHWM). Null once it is gone. */
export function memoryOf(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Children (direct and indirect) of a process, by scanning /proc (postgres backends of a postmaster). */
export function descendantsOf(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parent.set(Number(name), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, pp] of parent) if (pp === p) {
      out.push(child);
      walk(child);
    }
  };
  walk(root);
  return out;
}

/** Whole-machine CPU seconds (all cores) busy and total since boot, from /proc/stat. */
export function machineCpu(): { busy: number; total: number } {
  const line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy: busy / CLK_TCK, total: (busy + idle + iowait) / CLK_TCK };
}

export interface ProcessGroup {
  name: string;
  /** Pids of the group now (re-evaluated at every sample: postgres backends come and go). */
  pids: () => number[];
}

/**
 * Samples memory and CPU of named process groups every `intervalMs`:
 * peak RSS (max of VmHWM over the group's pids, or of summed VmRSS for
 * multi-process groups) and CPU seconds used between start() and stop().
 */
export class ResourceSampler {
  private timer: NodeJS.Timeout | null = null;
  private readonly peakRss = new Map<string, number>();
  private readonly peakHwm = new Map<string, number>();
  private readonly cpuStart = new Map<number, number>();
  private readonly cpuLast = new Map<number, { group: string; cpu: number }>();
  private machineStart = machineCpu();
  private wallStart = Date.now();
  private wallEnd = 0;
  private machineEnd = this.machineStart;

  constructor(private readonly groups: ProcessGroup[], private readonly intervalMs = 500) {}

  start(): void {
    this.machineStart = machineCpu();
    this.wallStart = Date.now();
    for (const g of this.groups) for (const pid of g.pids()) this.cpuStart.set(pid, cpuSecondsOf(pid));
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    for (const g of this.groups) {
      let rss = 0;
      for (const pid of g.pids()) {
        if (!this.cpuStart.has(pid)) this.cpuStart.set(pid, cpuSecondsOf(pid)); // a backend born during the stage
        const m = memoryOf(pid);
        if (m) {
          rss += m.rss;
          this.peakHwm.set(g.name, Math.max(this.peakHwm.get(g.name) ?? 0, m.hwm));
        }
        const cpu = cpuSecondsOf(pid);
        if (cpu > 0) this.cpuLast.set(pid, { group: g.name, cpu });
      }
      this.peakRss.set(g.name, Math.max(this.peakRss.get(g.name) ?? 0, rss));
    }
  }

  stop(): ResourceReport {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    this.machineEnd = machineCpu();
    this.wallEnd = Date.now();
    return this.report();
  }

  report(): ResourceReport {
    const wall = Math.max(0.001, ((this.wallEnd || Date.now()) - this.wallStart) / 1000);
    const cpu: Record<string, number> = {};
    for (const [pid, last] of this.cpuLast) cpu[last.group] = (cpu[last.group] ?? 0) + Math.max(0, last.cpu - (this.cpuStart.get(pid) ?? last.cpu));
    const machineBusy = this.machineEnd.busy - this.machineStart.busy;
    const groups: ResourceReport["groups"] = {};
    for (const g of this.groups) {
      groups[g.name] = {
        peak_rss_mb: round((this.peakRss.get(g.name) ?? 0) / 2 ** 20, 1),
        peak_hwm_mb: round((this.peakHwm.get(g.name) ?? 0) / 2 ** 20, 1),
        cpu_seconds: round(cpu[g.name] ?? 0, 1),
        cores_used: round((cpu[g.name] ?? 0) / wall, 2),
      };
    }
    return { wall_seconds: round(wall, 1), machine_cores_busy: round(machineBusy / wall, 2), groups };
  }
}

export interface ResourceReport {
  wall_seconds: number;
  /** Average number of cores busy on the whole machine (includes other helpers' work). */
  machine_cores_busy: number;
  groups: Record<string, { peak_rss_mb: number; peak_hwm_mb: number; cpu_seconds: number; cores_used: number }>;
}

/** Pid from a postmaster.pid file (first line), or null. */
export function pidFromFile(file: string): number | null {
  try {
    const n = Number(fs.readFileSync(file, "utf8").split("\n")[0].trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** Pids whose command line contains `needle` (e.g. the Kafka broker's main class). */
export function pidsByCommand(needle: string): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.readFileSync(`/proc/${name}/cmdline`, "utf8").includes(needle)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}
