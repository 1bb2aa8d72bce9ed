/**
 * `node -r ts-node/register/transpile-only app/cdc/register-cli.ts`
 * (proposed script: `npm run cdc:register`): creates the publication on
 * DATABASE_URL and registers the Debezium connector on KAFKA_CONNECT_URL,
 * then waits until it is RUNNING. Idempotent; exits 1 with the reason on failure.
 *
 * CDC_TOPIC_REPLICATION_FACTOR (default 1) and CDC_DB_SSLMODE (default from
 * the URL) adapt it to a real cluster; in AWS, infra builds the same config
 * with buildConnectorConfig() for MSK Connect instead.
 */
import { loadConfigOrExit, requireSetting } from "../shared/config";
import { CONNECTOR_NAME } from "./connector-config";
import { registerConnector } from "./register";

async function main(): Promise<void> {
  const config = loadConfigOrExit();
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
