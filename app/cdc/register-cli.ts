/**
 * `npm run cdc:register`: creates the publication on
 * DATABASE_URL and registers the Debezium connector on KAFKA_CONNECT_URL,
 * then waits until it is RUNNING. Idempotent; exits 1 with the reason on failure.
 *
 * `--restart` restarts it cleanly (stop, release the slot from an abandoned
 * task, resume): the remedy when the status says RUNNING but nothing streams
 * (app/cdc/README.md, "Operations"). `--check` exits 1 unless changes flow.
 *
 * CDC_TOPIC_REPLICATION_FACTOR (default 1) and CDC_DB_SSLMODE (default from
 * the URL) adapt it to a real cluster; in AWS, infra builds the same config
 * with buildConnectorConfig() for MSK Connect instead.
 */
import { loadConfigOrExit, requireSetting } from "../shared/config";
import { CONNECTOR_NAME } from "./connector-config";
import { connectorStreams, registerConnector, restartConnectorCleanly } from "./register";

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const args = process.argv.slice(2);
  const databaseUrl = requireSetting(config, "DATABASE_URL");
  const connectUrl = requireSetting(config, "KAFKA_CONNECT_URL");
  if (args.includes("--check")) {
    const ok = await connectorStreams(databaseUrl);
    process.stdout.write(ok ? "changes flow\n" : "changes do NOT flow (try --restart)\n");
    process.exit(ok ? 0 : 1);
  }
  if (args.includes("--restart")) {
    await restartConnectorCleanly({ databaseUrl, connectUrl });
    process.stdout.write(`${CONNECTOR_NAME}: restarted\n`);
    return;
  }
  const status = await registerConnector({
    databaseUrl: requireSetting(config, "DATABASE_URL"),
    connectUrl: requireSetting(config, "KAFKA_CONNECT_URL"),
    topicReplicationFactor: process.env.CDC_TOPIC_REPLICATION_FACTOR ? Number(process.env.CDC_TOPIC_REPLICATION_FACTOR) : undefined,
    sslMode: (process.env.CDC_DB_SSLMODE as "require" | undefined) || undefined,
  });
  process.stdout.write(
    `${CONNECTOR_NAME}: ${status.connector.state} (${status.tasks.map((t) => `task ${t.id} ${t.state}`).join(", ")})\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`cdc:register: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
