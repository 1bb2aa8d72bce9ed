import { expect } from "chai";
import { buildConnectorConfig, CAPTURED_TABLES } from "../../../app/cdc/connector-config";

describe("Debezium connector config", () => {
  const config = buildConnectorConfig({ databaseUrl: "postgres://debezium:s3cret@db.example:5433/atlas?sslmode=require" });

  it("reads the primary with pgoutput through the publication we create (never autocreated)", () => {
    expect(config).to.include({
      "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
      "plugin.name": "pgoutput",
      "publication.name": "atlas_cdc",
      "publication.autocreate.mode": "disabled",
      "slot.name": "atlas_cdc",
      "slot.drop.on.stop": "false",
      "topic.prefix": "atlas",
      "tasks.max": "1",
    });
  });

  it("takes host, port, user, password, database and sslmode from the URL", () => {
    expect(config).to.include({
      "database.hostname": "db.example", "database.port": "5433", "database.user": "debezium",
      "database.password": "s3cret", "database.dbname": "atlas", "database.sslmode": "require",
    });
  });

  it("a password override (an MSK Connect config-provider reference) replaces the URL's", () => {
    const c = buildConnectorConfig({ databaseUrl: "postgres://u@h/atlas", password: "${secretsmanager:atlas/db:password}" });
    expect(c["database.password"]).to.equal("${secretsmanager:atlas/db:password}");
  });

  it("captures the history, projection, dimension and heartbeat tables, and never the UNLOGGED staging table", () => {
    const included = config["table.include.list"].split(",");
    expect(included).to.have.length(CAPTURED_TABLES.length);
    expect(included).to.include("public\\.entity_values_ts");
    expect(included).to.include("public\\.replication_heartbeat");
    expect(config["table.include.list"]).not.to.match(/staging/);
  });

  it("beats every 10 s and writes the heartbeat row, so an idle database does not hold WAL", () => {
    expect(config["heartbeat.interval.ms"]).to.equal("10000");
    expect(config["heartbeat.action.query"]).to.match(/atlas_heartbeat\(\)/);
  });

  it("sends small messages: JSON without schemas, no tombstones, doubles for decimals", () => {
    expect(config).to.include({
      "key.converter.schemas.enable": "false",
      "value.converter.schemas.enable": "false",
      "tombstones.on.delete": "false",
      "decimal.handling.mode": "double",
    });
  });

  it("does not compress topics with a codec kafkajs cannot read (lz4, snappy, zstd)", () => {
    expect(Object.keys(config).filter((k) => k.includes("compression"))).to.deep.equal([]);
  });

  it("when the URL is not a postgres URL or names no database, then it refuses with the fix", () => {
    expect(() => buildConnectorConfig({ databaseUrl: "mysql://h/atlas" })).to.throw(/postgres:\/\//);
    expect(() => buildConnectorConfig({ databaseUrl: "postgres://h:5432/" })).to.throw(/name the database/);
  });
});
