/**
 * The connection URLs behind the secret settings. Pure: the caller resolves
 * the outputs and marks the result secret. Credentials are percent-encoded so
 * any password survives URL parsing (and a comma cannot split the replica list).
 */
import type { SecretSettingName } from "../../app/shared/config";

export interface ServiceUrlInputs {
  db: { host: string; port: number; name: string; username: string; password: string; replicaHosts: string[] };
  redis: { host: string; port: number; authToken: string };
  warehouse: { host: string; port: number; name: string; username: string; password: string };
}

const enc = encodeURIComponent;

/** TLS everywhere; `verify-full` checks the server certificate (the image trusts the RDS CA bundle, see Dockerfile). */
export function serviceUrls(i: ServiceUrlInputs): Record<Exclude<SecretSettingName, "WEBHOOK_SECRET_KEY">, string> {
  const pg = (user: string, password: string, host: string, port: number, db: string) =>
    `postgres://${enc(user)}:${enc(password)}@${host}:${port}/${db}?sslmode=verify-full`;
  return {
    DATABASE_URL: pg(i.db.username, i.db.password, i.db.host, i.db.port, i.db.name),
    // No replicas: "," is the empty list to the services' csv parser; Secrets Manager refuses an empty secret.
    DATABASE_REPLICA_URLS: i.db.replicaHosts.length === 0 ? "," : i.db.replicaHosts.map((h) => pg(i.db.username, i.db.password, h, i.db.port, i.db.name)).join(","),
    REDIS_URL: `rediss://:${enc(i.redis.authToken)}@${i.redis.host}:${i.redis.port}`,
    WAREHOUSE_URL: pg(i.warehouse.username, i.warehouse.password, i.warehouse.host, i.warehouse.port, i.warehouse.name),
  };
}
