/**
 * Registers the CDC pipeline's source end: the publication on the primary,
 * then the Debezium connector on Kafka Connect (idempotent PUT), then waits
 * until it runs. Used by register-cli.ts, the lead's `npm start` and the tests.
 */
import { createPool } from "../shared/db";
import { log } from "../shared/log";
import { ConnectClient, ConnectorStatus } from "./connect-client";
import { buildConnectorConfig, ConnectorConfigArgs, CONNECTOR_NAME } from "./connector-config";
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
  const created = await connect.putConfig(CONNECTOR_NAME, buildConnectorConfig(opts));
  log.info(created ? "connector created" : "connector config updated", { connector: CONNECTOR_NAME });
  return connect.waitFor(CONNECTOR_NAME, "RUNNING", opts.timeoutMs ?? 90_000);
}
