/**
 * Fault injection on the real local stack for the fault suites: the per-part
 * scripts of scripts/stack (start|stop|kill, run asynchronously so the load
 * of the test keeps running meanwhile) and WAL replay on the replica.
 *
 * These faults hit the whole stack: nothing else may run against it meanwhile
 * (mocha runs the files one after another; a developer running suites side by
 * side must not run a fault suite among them).
 */
import { execFile } from "child_process";
import path from "path";
import { Client } from "pg";
import { requireStackVar } from "../../helpers/stack-env";

const STACK_DIR = path.resolve(__dirname, "../../../scripts/stack");

/** Runs `scripts/stack/<part>.sh <action>`; resolves with its duration in ms, rejects with its output on failure. */
export function stackPart(part: "redis" | "connect" | "kafka" | "postgres", action: string, ...args: string[]): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile("bash", [path.join(STACK_DIR, `${part}.sh`), action, ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${part}.sh ${action} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve(Date.now() - started);
    });
  });
}

/**
 * Pauses or resumes WAL replay on the stack's replica (a superuser session on
 * its `atlas` database) and returns once the replica reports the new state.
 */
export async function setReplicaReplay(paused: boolean): Promise<void> {
  const replica = new Client({ connectionString: requireStackVar("DATABASE_REPLICA_URLS").split(",")[0].trim() });
  await replica.connect();
  try {
    await replica.query(paused ? "SELECT pg_wal_replay_pause()" : "SELECT pg_wal_replay_resume()");
    for (let i = 0; i < 100; i++) {
      const { rows } = await replica.query<{ state: string }>("SELECT pg_get_wal_replay_pause_state() AS state");
      if (paused ? rows[0].state === "paused" : rows[0].state === "not paused") return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`replica replay did not become ${paused ? "paused" : "not paused"}`);
  } finally {
    await replica.end();
  }
}
