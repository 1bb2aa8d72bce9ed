/**
 * Registers the CDC pipeline's source end: the publication on the primary,
 * then the Debezium connector on Kafka Connect (idempotent PUT), then waits
 * until it runs. Used by register-cli.ts, the lead's `npm start` and the tests.
 */
import { createPool } from "../shared/db";
import { log } from "../shared/log";
import { ConnectClient, ConnectorStatus } from "./connect-client";
import { buildConnectorConfig, ConnectorConfigArgs, CONNECTOR_NAME, SLOT_NAME } from "./connector-config";
import { ensurePublication } from "./publication";

export interface RegisterOptions extends ConnectorConfigArgs {
  connectUrl: string;
  /** How long to wait for RUNNING, ms. Defaults to 90 s. */
  timeoutMs?: number;
}

export async function registerConnector(opts: RegisterOptions): Promise<ConnectorStatus> {
  const primary = createPool(opts.databaseUrl, "cdc-register", { max: 1 });
  try {
    const pub = await ensurePublication(primary);
    log.info("publication ready", { publication: "atlas_cdc", created: pub.created, added: pub.added });
  } finally {
    await primary.end();
  }
  const connect = new ConnectClient(opts.connectUrl);
  const desired = buildConnectorConfig(opts);
  // A PUT restarts the connector's task even when nothing changed, and a
  // restarted Debezium task can find the slot still held by its predecessor
  // ("replication slot … is active"; see restartConnectorCleanly): so an
  // unchanged connector is left alone.
  const current = await connect.getConfig(CONNECTOR_NAME);
  const unchanged = current !== null && Object.entries(desired).every(([k, v]) => current[k] === v);
  if (!unchanged) {
    const created = await connect.putConfig(CONNECTOR_NAME, desired);
    log.info(created ? "connector created" : "connector config updated", { connector: CONNECTOR_NAME });
  }
  return connect.waitFor(CONNECTOR_NAME, "RUNNING", opts.timeoutMs ?? 90_000);
}

/**
 * Restarts the connector so that it certainly reads the slot again.
 *
 * Why not just POST /restart: when Kafka goes away, Connect may fail to stop
 * a Debezium task within task.shutdown.graceful.timeout.ms and abandon it;
 * the abandoned task keeps its replication connection open (Debezium's
 * keep-alive thread answers the server), so every new task fails with
 * `replication slot "atlas_cdc" is active for PID n` and nothing streams,
 * while the status API says RUNNING. So: stop the connector, wait for the
 * slot to be released, terminate the walsender still holding it (with the
 * connector stopped nobody legitimate does), then resume.
 */
export async function restartConnectorCleanly(opts: { databaseUrl: string; connectUrl: string; timeoutMs?: number }): Promise<void> {
  const connect = new ConnectClient(opts.connectUrl);
  const primary = createPool(opts.databaseUrl, "cdc-restart", { max: 1 });
  try {
    await connect.stop(CONNECTOR_NAME);
    await connect.waitFor(CONNECTOR_NAME, "STOPPED", 30_000).catch(() => undefined);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const { rows } = await primary.query<{ active_pid: number | null }>(
        "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
        [SLOT_NAME],
      );
      const pid = rows[0]?.active_pid ?? null;
      if (pid === null) break;
      if (Date.now() > deadline) {
        log.warn("terminating the walsender of an abandoned Debezium task", { pid, slot: SLOT_NAME });
        await primary.query("SELECT pg_terminate_backend($1)", [pid]);
        await new Promise((r) => setTimeout(r, 1_000));
        continue;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    await connect.resume(CONNECTOR_NAME);
    await connect.waitFor(CONNECTOR_NAME, "RUNNING", opts.timeoutMs ?? 90_000);
  } finally {
    await primary.end();
  }
}

/**
 * Whether changes flow right now: commits a heartbeat on the primary and
 * waits until the slot has confirmed a position past it (Debezium confirms
 * after Kafka acknowledged the events, at Connect's offset flush).
 */
export async function connectorStreams(databaseUrl: string, timeoutMs = 30_000): Promise<boolean> {
  const primary = createPool(databaseUrl, "cdc-probe", { max: 1 });
  try {
    await primary.query("SELECT atlas_heartbeat()");
    const { rows } = await primary.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn");
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const r = await primary.query<{ ok: boolean }>(
        "SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1",
        [SLOT_NAME, rows[0].lsn],
      );
      if (r.rows[0]?.ok) return true;
      await new Promise((r) => setTimeout(r, 500));
      // Keep the connector's position moving (its own heartbeat is every 10 s).
      await primary.query("SELECT atlas_heartbeat()");
    }
    return false;
  } finally {
    await primary.end();
  }
}

/**
 * Registers the connector and makes sure changes flow: Connect may report
 * RUNNING while an abandoned task holds the slot (after Kafka went away), so
 * when nothing streams within `checkMs` it restarts cleanly and checks again.
 * Throws when changes still do not flow. Used by `npm start` and the tests.
 */
export async function ensureConnectorStreams(opts: RegisterOptions & { checkMs?: number }): Promise<ConnectorStatus> {
  let status = await registerConnector(opts);
  if (!(await connectorStreams(opts.databaseUrl, opts.checkMs ?? 30_000))) {
    log.warn("the Debezium connector reports RUNNING but nothing streams; restarting it cleanly", { connector: CONNECTOR_NAME });
    await restartConnectorCleanly({ databaseUrl: opts.databaseUrl, connectUrl: opts.connectUrl });
    if (!(await connectorStreams(opts.databaseUrl, 120_000))) throw new Error("the Debezium connector does not stream after a clean restart");
    status = await new ConnectClient(opts.connectUrl).waitFor(CONNECTOR_NAME, "RUNNING", opts.timeoutMs ?? 90_000);
  }
  return status;
}
