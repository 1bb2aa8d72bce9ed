/**
 * The services under test as their own processes, as the containers run them:
 * compiled JavaScript (bench/.build, transpiled from app/ and db/ without
 * type checking, so ts-node's ~55 MB of compiler does not inflate the RSS we
 * report), or ts-node with --ts-node. Each child gets its own port, the
 * bench's database and topic suffix, and is probed on /readyz.
 */
import { spawn, type ChildProcess } from "child_process";
import fs from "fs";
import net from "net";
import path from "path";
import ts from "typescript";
import { configSchema } from "../app/shared/config";

export const REPO = path.resolve(__dirname, "..");
const BUILD = path.join(REPO, "bench", ".build");

/** Transpiles app/ and db/ into bench/.build (module resolution climbs to the repo's node_modules). */
export function buildServices(): string {
  const t0 = Date.now();
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) files.push(p);
    }
  };
  walk(path.join(REPO, "app"));
  walk(path.join(REPO, "db"));
  for (const file of files) {
    const out = path.join(BUILD, path.relative(REPO, file)).replace(/\.ts$/, ".js");
    const src = fs.readFileSync(file, "utf8");
    const { outputText } = ts.transpileModule(src, {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, resolveJsonModule: true },
    });
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, outputText);
  }
  // The migration runner looks for its .sql files next to itself.
  fs.cpSync(path.join(REPO, "db", "migrations"), path.join(BUILD, "db", "migrations"), { recursive: true });
  if (fs.existsSync(path.join(REPO, "db", "warehouse"))) {
    for (const f of fs.readdirSync(path.join(REPO, "db", "warehouse")).filter((f) => f.endsWith(".sql"))) {
      fs.copyFileSync(path.join(REPO, "db", "warehouse", f), path.join(BUILD, "db", "warehouse", f));
    }
  }
  return `${files.length} files in ${Date.now() - t0} ms`;
}

/** A free TCP port on 127.0.0.1 (bound and released; good enough on a quiet host). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ServiceOptions {
  /** Entry point relative to the repo, e.g. app/ingest/main.ts. */
  entry: string;
  env: Record<string, string>;
  /** Run under ts-node instead of the compiled build. */
  tsNode?: boolean;
  /** Write a V8 CPU profile into this directory when the process exits. */
  cpuProfDir?: string;
}

export interface Service {
  name: string;
  proc: ChildProcess;
  pid: number;
  port: number;
  url: string;
  /** The last lines it logged (for error reports). */
  tail(): string[];
  waitReady(timeoutMs?: number): Promise<void>;
  /** SIGTERM, wait for exit (graceful shutdown), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** The environment of a child: ours without any platform setting, plus the given ones. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  const settings = new Set(Object.keys(configSchema.shape));
  for (const [k, v] of Object.entries(process.env)) if (!settings.has(k) && k !== "ATLAS_TOPIC_SUFFIX") base[k] = v;
  return { ...base, LOG_LEVEL: "warn", ...env };
}

export async function startService(name: string, opts: ServiceOptions): Promise<Service> {
  const port = Number(opts.env.PORT ?? (await freePort()));
  const args: string[] = [];
  if (opts.cpuProfDir) {
    fs.mkdirSync(opts.cpuProfDir, { recursive: true });
    args.push("--cpu-prof", `--cpu-prof-dir=${opts.cpuProfDir}`, `--cpu-prof-name=${name}.cpuprofile`);
  }
  if (opts.tsNode) args.push("-r", "ts-node/register/transpile-only", path.join(REPO, opts.entry));
  else args.push(path.join(BUILD, opts.entry.replace(/\.ts$/, ".js")));
  const proc = spawn(process.execPath, args, {
    cwd: REPO,
    env: childEnv({ ...opts.env, PORT: String(port) }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const onData = (buf: Buffer) => {
    for (const l of buf.toString().split("\n")) {
      if (!l.trim()) continue;
      lines.push(l);
      if (lines.length > 50) lines.shift();
      if (process.env.BENCH_CHILD_LOGS) process.stderr.write(`[${name}] ${l}\n`);
    }
  };
  proc.stdout!.on("data", onData);
  proc.stderr!.on("data", onData);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    proc.on("exit", (code) => {
      exitCode = code;
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  return {
    name,
    proc,
    pid: proc.pid!,
    port,
    url,
    tail: () => [...lines],
    async waitReady(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      let last = "";
      while (Date.now() < deadline) {
        if (exitCode !== undefined) throw new Error(`${name} exited with ${exitCode}:\n${lines.slice(-10).join("\n")}`);
        try {
          const res = await fetch(`${url}/readyz`);
          last = await res.text();
          if (res.status === 200) return;
        } catch (err) {
          last = (err as Error).message;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`${name} not ready within ${timeoutMs} ms (last: ${last}):\n${lines.slice(-10).join("\n")}`);
    },
    async stop(graceMs = 20_000) {
      if (exitCode !== undefined) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Reads a Prometheus counter (sum over its label sets matching `labels`) from a /metrics endpoint. */
export async function readCounter(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const ls = m[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}
