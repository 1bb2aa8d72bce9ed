/**
 * Putting the shared local stack back after fault injection: healStack(),
 * which every fault suite runs in its `after` hook so that the suites after
 * it find the stack as they expect it (primary and Kafka up, the replica
 * streaming, the Debezium connector streaming); and the batch writer as its
 * own killable process.
 */
import { Client } from "pg";
import { connectorStreams } from "../../../app/cdc/register";
import { SLOT_NAME } from "../../../app/cdc/connector-config";
import { requireStackVar } from "../../helpers/stack-env";
import { spawnEntry, waitFor, type Child } from "../ingest/harness";
import { stackPart } from "./stack-parts";

/** The batch writer (app/ingest/writer-main.ts) as its own process on a test database and topic suffix. */
export async function startWriterProcess(databaseUrl: string, suffix: string): Promise<Child> {
  const child = spawnEntry("app/ingest/writer-main.ts", {
    DATABASE_URL: databaseUrl,
    KAFKA_BROKERS: requireStackVar("KAFKA_BROKERS"),
    REDIS_URL: requireStackVar("REDIS_URL"),
    PORT: "0",
    ATLAS_TOPIC_SUFFIX: suffix,
  });
  await Promise.race([
    child.waitForLog((l) => l.msg === "batch writer started", 90_000),
    child.exited.then((code) => {
      throw new Error(`the batch writer exited at start (code ${code})`);
    }),
  ]);
  return child;
}

/** SIGTERM (graceful) or SIGKILL a child unless it already exited; resolves when it has. */
export async function endChild(child: Child | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!child || child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill(signal);
  const timer = setTimeout(() => child.proc.kill("SIGKILL"), 30_000);
  await child.exited;
  clearTimeout(timer);
}

async function primaryQuery<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString: requireStackVar("DATABASE_URL"), connectionTimeoutMillis: 5_000 });
  c.on("error", () => undefined);
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Whether the replica streams from the primary right now (pg_stat_replication on the primary). */
export async function replicaStreams(): Promise<boolean> {
  const rows = await primaryQuery<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid
     WHERE s.slot_type = 'physical' AND r.state = 'streaming'`,
  ).catch(() => [{ n: 0 }]);
  return rows[0].n > 0;
}

/**
 * Starts whatever a fault suite may have stopped and waits until the stack
 * works as the other suites expect. Throws, saying what, when it cannot.
 */
export async function healStack(): Promise<void> {
  await stackPart("kafka", "start");
  await stackPart("postgres", "start", "primary");
  await waitFor(replicaStreams, 60_000, "the replica streaming from the primary again");
  // Only when some suite registered the CDC connector (its slot exists) is there a connector to heal.
  const slot = await primaryQuery<{ n: number }>("SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1", [SLOT_NAME]);
  if (slot[0].n === 0) return;
  const databaseUrl = requireStackVar("DATABASE_URL");
  if (await connectorStreams(databaseUrl, 20_000)) return;
  // A broker or primary outage can leave Connect with an abandoned Debezium task
  // that keeps the slot (and its JMX names) in the worker's JVM, so that even
  // restartConnectorCleanly's new task never streams. Restarting the worker ends it.
  await stackPart("connect", "stop");
  await primaryQuery("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL", [SLOT_NAME]);
  await stackPart("connect", "start");
  if (!(await connectorStreams(databaseUrl, 180_000))) throw new Error("the Debezium connector does not stream after a restart of Connect");
}
