/**
 * The Debezium connector's configuration on MSK Connect. The connector itself
 * (tables, slot, publication, topics, converters) is defined once, by the CDC
 * code in app/cdc/connector-config.ts, which the local stack registers with
 * Kafka Connect; infra only says where the database is, that TLS is on, how
 * many replicas MSK topics get, and where the password comes from: a
 * config-provider reference, so the connector configuration holds no
 * credential. Pure; tested without mocks.
 */
import { buildConnectorConfig } from "../../app/cdc/connector-config";

export interface DebeziumTarget {
  dbHost: string;
  dbPort: number;
  dbName: string;
  dbUsername: string;
  /** Secrets Manager secret (JSON with `username` and `password`) the connector logs in with. */
  credentialsSecretArn: string;
  /** Replication factor for the topics Debezium creates (3 on MSK). */
  replicationFactor: number;
}

/** `${secretsmanager:<arn>:<key>}`, resolved by the worker's config provider at connector start. */
export const secretReference = (secretArn: string, key: string) => `\${secretsmanager:${secretArn}:${key}}`;

export function debeziumConnectorProperties(t: DebeziumTarget): Record<string, string> {
  return buildConnectorConfig({
    databaseUrl: `postgres://${encodeURIComponent(t.dbUsername)}@${t.dbHost}:${t.dbPort}/${t.dbName}`,
    password: secretReference(t.credentialsSecretArn, "password"),
    // RDS forces TLS (rds.force_ssl=1). The JVM does not trust the RDS CA by default, so not verify-full.
    sslMode: "require",
    topicReplicationFactor: t.replicationFactor,
    topicPartitions: 6,
  });
}

/**
 * The MSK Connect worker properties: the AWS Secrets Manager config provider
 * (github.com/aws-samples/msk-config-providers; the plugin zip must contain it,
 * infra/plugins/build-debezium-plugin.sh puts it there).
 */
export function workerProperties(region: string): string {
  return [
    "key.converter=org.apache.kafka.connect.json.JsonConverter",
    "key.converter.schemas.enable=false",
    "value.converter=org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable=false",
    "config.providers=secretsmanager",
    "config.providers.secretsmanager.class=com.amazonaws.kafka.config.providers.SecretsManagerConfigProvider",
    `config.providers.secretsmanager.param.region=${region}`,
    "",
  ].join("\n");
}
