/**
 * The local stack is real: each part answers with its own protocol, through
 * the settings `npm test` exports from .atlas/stack.env.
 */
import { expect } from "chai";
import { randomUUID } from "crypto";
import Redis from "ioredis";
import { Kafka, Partitioners, logLevel } from "kafkajs";
import { Client } from "pg";
import { stackEnv } from "../helpers/stack-env";

const env = stackEnv();

async function withPg<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function poll<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("local stack", () => {
  describe("PostgreSQL", () => {
    const table = `stack_probe_${randomUUID().replace(/-/g, "")}`;

    after(async () => {
      await withPg(env.databaseUrl, (c) => c.query(`drop table if exists ${table}`));
    });

    it("when a row is written on the primary, then the streaming replica serves it within 10 s", async () => {
      const marker = randomUUID();
      await withPg(env.databaseUrl, async (c) => {
        await c.query(`create table ${table} (id int primary key, marker text not null)`);
        await c.query(`insert into ${table} values (1, $1)`, [marker]);
      });

      expect(env.replicaUrls).to.have.length.greaterThan(0);
      for (const replicaUrl of env.replicaUrls) {
        const seen = await withPg(replicaUrl, async (c) => {
          const { rows } = await c.query<{ recovering: boolean }>("select pg_is_in_recovery() as recovering");
          expect(rows[0].recovering, "the replica URL must point at a standby").to.equal(true);
          return poll("row on the replica", 10_000, async () => {
            const exists = await c.query("select to_regclass($1) as t", [table]);
            if (exists.rows[0].t === null) return undefined;
            const found = await c.query<{ marker: string }>(`select marker from ${table} where id = 1`);
            return found.rows[0]?.marker;
          });
        });
        expect(seen).to.equal(marker);
      }
    });

    it("the primary runs with wal_level=logical and offers pg_partman", async () => {
      await withPg(env.databaseUrl, async (c) => {
        const wal = await c.query<{ wal_level: string }>("show wal_level");
        expect(wal.rows[0].wal_level).to.equal("logical");
        const partman = await c.query("select 1 from pg_available_extensions where name = 'pg_partman'");
        expect(partman.rowCount, "pg_partman is not installed (apt-get install postgresql-15-partman)").to.equal(1);
      });
    });

    it("the warehouse database answers on the primary", async () => {
      const db = await withPg(env.warehouseUrl, (c) => c.query<{ db: string }>("select current_database() as db"));
      expect(db.rows[0].db).to.equal("atlas_warehouse");
    });
  });

  describe("Kafka", () => {
    const kafka = new Kafka({ clientId: "atlas-stack-test", brokers: env.kafkaBrokers, logLevel: logLevel.ERROR });
    const topic = `atlas.stack-test.${randomUUID()}`;

    after(async () => {
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    });

    it("when a message is produced by an idempotent producer with acks=all, then a consumer receives it", async () => {
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
      await admin.disconnect();

      const key = randomUUID();
      const producer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      const [sent] = await producer.send({ topic, acks: -1, messages: [{ key, value: JSON.stringify({ v: 1, key }) }] });
      await producer.disconnect();
      expect(sent.errorCode).to.equal(0);

      const consumer = kafka.consumer({ groupId: `atlas-stack-test-${randomUUID()}` });
      await consumer.connect();
      try {
        await consumer.subscribe({ topic, fromBeginning: true });
        const received = await new Promise<{ key: string; value: unknown }>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error("no message within 30 s")), 30_000);
          void consumer
            .run({
              eachMessage: async ({ message }) => {
                clearTimeout(timer);
                resolve({ key: String(message.key), value: JSON.parse(String(message.value)) });
              },
            })
            .catch(reject);
        });
        expect(received).to.deep.equal({ key, value: { v: 1, key } });
      } finally {
        await consumer.disconnect();
      }
    });
  });

  describe("Redis", () => {
    it("when a value is set with a TTL, then it reads back with that TTL and deletes", async () => {
      const redis = new Redis(env.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
      await redis.connect();
      try {
        const key = `atlas:stack-test:${randomUUID()}`;
        await redis.set(key, "round-trip", "PX", 60_000);
        expect(await redis.get(key)).to.equal("round-trip");
        expect(await redis.pttl(key)).to.be.within(1, 60_000);
        expect(await redis.del(key)).to.equal(1);
        expect(await redis.get(key)).to.equal(null);
        const port = Number(new URL(env.redisUrl).port);
        expect(port, "the stack's own Redis, not the machine's 6379").to.not.equal(6379);
      } finally {
        redis.disconnect();
      }
    });
  });

  describe("Kafka Connect", () => {
    it("the REST API lists the Debezium PostgreSQL connector plugin", async () => {
      const res = await fetch(`${env.kafkaConnectUrl}/connector-plugins`);
      expect(res.status).to.equal(200);
      const plugins = (await res.json()) as Array<{ class: string; type: string; version: string }>;
      const debezium = plugins.find((p) => p.class === "io.debezium.connector.postgresql.PostgresConnector");
      expect(debezium, JSON.stringify(plugins)).to.not.equal(undefined);
      expect(debezium?.type).to.equal("source");
      expect(debezium?.version).to.match(/^3\.3\.1/);
    });

    it("the worker has joined its group and takes connector requests", async () => {
      const res = await fetch(`${env.kafkaConnectUrl}/connectors`);
      expect(res.status).to.equal(200);
      expect(await res.json()).to.be.an("array");
    });
  });
});
