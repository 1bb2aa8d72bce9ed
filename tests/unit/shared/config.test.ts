import { expect } from "chai";
import { ConfigError, parseConfig, SECRET_SETTINGS, SERVICE_SETTINGS, configSchema } from "../../../app/shared/config";

describe("shared config", () => {
  it("when nothing is set, then the embedded defaults apply", () => {
    const config = parseConfig({});
    expect(config.DATABASE_URL).to.equal(undefined);
    expect(config.KAFKA_BROKERS).to.equal(undefined);
    expect(config.PORT).to.equal(8080);
    expect(config.DATABASE_REPLICA_URLS).to.deep.equal([]);
  });

  it("when lists are comma-separated, then they parse into arrays, blanks dropped", () => {
    const config = parseConfig({
      KAFKA_BROKERS: "a:9092, b:9092,",
      DATABASE_REPLICA_URLS: "postgres://r1/db,postgresql://r2/db",
    });
    expect(config.KAFKA_BROKERS).to.deep.equal(["a:9092", "b:9092"]);
    expect(config.DATABASE_REPLICA_URLS).to.deep.equal(["postgres://r1/db", "postgresql://r2/db"]);
  });

  for (const [name, value] of [
    ["PORT", "eighty"],
    ["PORT", "70000"],
    ["DATABASE_URL", "mysql://x/y"],
    ["KAFKA_BROKERS", "localhost"],
    ["REDIS_URL", "http://cache"],
    ["INGEST_MAX_READINGS", "-1"],
    ["KAFKA_SSL", "maybe"],
  ] as const) {
    it(`when ${name}=${value}, then parsing fails naming ${name}`, () => {
      expect(() => parseConfig({ [name]: value })).to.throw(ConfigError, new RegExp(`^invalid configuration: ${name} `));
    });
  }

  it("when a service lists a setting, then the schema has it (and secrets are settings too)", () => {
    const known = new Set(Object.keys(configSchema.shape));
    for (const settings of Object.values(SERVICE_SETTINGS)) for (const s of settings) expect(known.has(s), s).to.equal(true);
    for (const s of SECRET_SETTINGS) expect(known.has(s), s).to.equal(true);
  });
});
