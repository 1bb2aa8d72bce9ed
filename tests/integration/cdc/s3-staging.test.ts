/**
 * The CDC staging path against the real local stack: the S3-compatible server
 * (S3Proxy, scripts/stack/s3.sh) and a fresh database on the stack's
 * PostgreSQL (the warehouse's server), never the real warehouse tables.
 *
 * A loader is a child process here, SIGKILLed at the moments that matter:
 * after the upload and before the COPY, and after the COPY and the merge but
 * before the COMMIT. The redelivered batch (same identity) then runs the full
 * path; each row is in the warehouse exactly once, through the merge apply.ts
 * uses (DELETE … USING stage + INSERT … WHERE NOT EXISTS, by source_lsn).
 */
import { expect } from "chai";
import { spawn } from "child_process";
import { randomBytes } from "crypto";
import * as path from "path";
import { DeleteObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import type { PoolClient } from "pg";
import { copyStdinLoader } from "../../../app/cdc/loader/staging/copy-stdin";
import { stagingS3Client } from "../../../app/cdc/loader/staging/s3-client";
import { s3StagingLoader, type S3StagingLoader } from "../../../app/cdc/loader/staging/s3-staging";
import { stagedKey, type BatchIdentity, type StageLoader, type StageSpec } from "../../../app/cdc/loader/staging/stage-loader";
import { useTestDatabase } from "../../helpers/db";
import { s3StagingEnv } from "../../helpers/stack-env";

const REPO_ROOT = path.join(__dirname, "..", "..", "..");

/** Bind parameters per statement: PostgreSQL's protocol caps them at 65,535. */
const MAX_PARAMS = 60_000;

/**
 * The loader's former way of filling stage tables (multi-row VALUES, chunked
 * under the parameter cap): the reference the COPY paths are compared with.
 */
async function insertRows(client: PoolClient, table: string, columns: string[], rows: unknown[][]): Promise<void> {
  const perChunk = Math.max(1, Math.floor(MAX_PARAMS / columns.length));
  for (let start = 0; start < rows.length; start += perChunk) {
    const chunk = rows.slice(start, start + perChunk);
    const params: unknown[] = [];
    const tuples = chunk.map((row) => {
      const slots = row.map((v) => {
        params.push(v);
        return `$${params.length}`;
      });
      return `(${slots.join(",")})`;
    });
    await client.query(`INSERT INTO ${table} (${columns.join(",")}) VALUES ${tuples.join(",")}`, params);
  }
}

const TENANT = "0b5e4a8e-9d7e-4c39-8a33-3f3b1b0c5301";

/** A fact-like staging table (apply.ts's cdc_stage_facts, fewer columns). */
const STAGE: StageSpec = {
  name: "cdc_stage_probe",
  columns: [["tenant_id", "varchar(36)"], ["entity_id", "bigint"], ["attribute_id", "int"], ["ts", "timestamptz"], ["day", "date"],
    ["value_num", "double precision"], ["value_text", "varchar(65535)"], ["value_bool", "boolean"], ["source_lsn", "bigint"], ["is_delete", "boolean"]],
};
const createStageSql = `CREATE TEMP TABLE ${STAGE.name} (${STAGE.columns.map(([c, t]) => `${c} ${t}`).join(", ")})`;
const KEY = "f.tenant_id = s.tenant_id AND f.entity_id = s.entity_id AND f.attribute_id = s.attribute_id AND f.ts = s.ts";
const VALUE_COLUMNS = "tenant_id, entity_id, attribute_id, ts, day, value_num, value_text, value_bool, source_lsn";
/** apply.ts's fact merge: replace by key unless the warehouse holds a newer change. */
const mergeSql = `
  DELETE FROM probe_facts f USING ${STAGE.name} s WHERE ${KEY} AND f.source_lsn <= s.source_lsn;
  INSERT INTO probe_facts (${VALUE_COLUMNS})
    SELECT ${VALUE_COLUMNS.split(", ").map((c) => `s.${c}`).join(", ")} FROM ${STAGE.name} s
    WHERE NOT s.is_delete AND NOT EXISTS (SELECT 1 FROM probe_facts f WHERE ${KEY});
  DROP TABLE ${STAGE.name};`;

/** Values every encoding must carry through: separators, quotes, escapes, NULL vs '', the text "\N", extremes. */
function trickyRows(entity: number, lsn: number): unknown[][] {
  const texts = ["plain", "a,b", 'say "hi"', "tab\there", "line\nbreak", "cr\rlf", "back\\slash", "", null, "\\N", "  spaced  ", "ünïcödé 🚀", "'single'"];
  return texts.map((text, i) => [
    TENANT, entity, i + 1, `2026-11-24T10:00:0${i % 10}.${String(123456 + i).padStart(6, "0")}Z`, "2026-11-24",
    [0, -1.5, 1e300, 75.25, NaN][i % 5], text, [true, false, null][i % 3], lsn + i, false,
  ]);
}

const batchOf = (group: string, lastOffset: number): BatchIdentity => ({
  group, ranges: [{ topic: "atlas.public.entity_values_ts", partition: 1, lastOffset: String(lastOffset) }, { topic: "atlas.public.entities", partition: 0, lastOffset: "3" }],
});

describe("CDC staging through the local S3-compatible server", function () {
  this.timeout(120_000);
  const db = useTestDatabase({ migrate: false });
  const env = s3StagingEnv();
  const prefix = `test-staging/${randomBytes(4).toString("hex")}`;
  let s3: S3Client;
  let loader: S3StagingLoader;

  before(async () => {
    s3 = stagingS3Client({ region: "us-east-1", endpoint: env.endpoint, accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey });
    loader = s3StagingLoader({ bucket: env.bucket, prefix, s3, dialect: "postgres" });
    await db.pool.query(`CREATE TABLE probe_facts (
      tenant_id varchar(36) NOT NULL, entity_id bigint NOT NULL, attribute_id int NOT NULL, ts timestamptz NOT NULL, day date NOT NULL,
      value_num double precision, value_text varchar(65535), value_bool boolean, source_lsn bigint NOT NULL,
      PRIMARY KEY (tenant_id, entity_id, attribute_id, ts))`);
  });

  after(async () => {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: env.bucket, Prefix: `${prefix}/` }));
    for (const o of listed.Contents ?? []) await s3.send(new DeleteObjectCommand({ Bucket: env.bucket, Key: o.Key! }));
    s3.destroy();
  });

  async function inTransaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await db.pool.connect();
    try {
      await client.query("BEGIN");
      const out = await fn(client);
      await client.query("COMMIT");
      return out;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** One delivery of a batch the way the loader runs it: stage, merge, commit, then settle. */
  async function deliver(stageLoader: StageLoader, rows: unknown[][], batch: BatchIdentity): Promise<void> {
    await inTransaction(async (client) => {
      await client.query(createStageSql);
      await stageLoader.load(client, STAGE, rows, batch);
      await client.query(mergeSql);
    });
    await stageLoader.settle(batch);
  }

  const loadedOf = async (entity: number) =>
    (await db.pool.query(`SELECT ${VALUE_COLUMNS} FROM probe_facts WHERE entity_id = $1 ORDER BY attribute_id`, [entity])).rows;
  const objectsOf = async (batch: BatchIdentity) => {
    const folder = path.posix.dirname(stagedKey(prefix, batch, STAGE.name));
    return ((await s3.send(new ListObjectsV2Command({ Bucket: env.bucket, Prefix: `${folder}/` }))).Contents ?? []).map((o) => o.Key!);
  };
  const exists = (key: string) => s3.send(new HeadObjectCommand({ Bucket: env.bucket, Key: key })).then(() => true, () => false);

  /**
   * A loader process that runs `mode` for the batch, prints `done`, and is
   * SIGKILLed there: "upload" stops between upload and COPY; "uncommitted"
   * after COPY and merge, its transaction still open.
   */
  async function killedLoader(mode: "upload" | "uncommitted", rows: unknown[][], batch: BatchIdentity): Promise<void> {
    const job = { mode, rows, batch, spec: STAGE, createStageSql, mergeSql, url: db.url, bucket: env.bucket, prefix, s3: { ...env, region: "us-east-1" } };
    const code = `
      const { Client } = require("pg");
      const { stagingS3Client } = require(${JSON.stringify(path.join(REPO_ROOT, "app/cdc/loader/staging/s3-client"))});
      const { s3StagingLoader } = require(${JSON.stringify(path.join(REPO_ROOT, "app/cdc/loader/staging/s3-staging"))});
      const job = JSON.parse(process.env.STAGING_JOB);
      (async () => {
        const loader = s3StagingLoader({ bucket: job.bucket, prefix: job.prefix, dialect: "postgres", s3: stagingS3Client(job.s3) });
        if (job.mode === "upload") {
          await loader.upload(job.spec, job.rows, job.batch);
        } else {
          const client = new Client({ connectionString: job.url });
          await client.connect();
          await client.query("BEGIN");
          await client.query(job.createStageSql);
          await loader.load(client, job.spec, job.rows, job.batch);
          await client.query(job.mergeSql);
        }
        process.stdout.write("done\\n");
        setInterval(() => undefined, 1000); // the kill lands here
      })().catch((err) => { console.error(err); process.exit(3); });`;
    // JSON turns NaN into null: the child's rows are the same batch only if none is NaN.
    if (rows.flat().some((v) => typeof v === "number" && Number.isNaN(v))) throw new Error("killedLoader: rows must survive JSON");
    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", code], {
      cwd: REPO_ROOT, env: { ...process.env, STAGING_JOB: JSON.stringify(job), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += String(d)));
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on("exit", (c, signal) => resolve(signal ?? c)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d) => String(d).includes("done") && resolve());
      void exited.then((how) => reject(new Error(`loader child exited (${how}) before it was killed:\n${stderr}`)));
    });
    child.kill("SIGKILL");
    expect(await exited).to.equal("SIGKILL");
  }

  it("when a batch is staged through S3, then the staging table holds exactly its rows, values intact", async () => {
    const rows = trickyRows(101, 1000);
    const got = await inTransaction(async (client) => {
      await client.query(createStageSql);
      await loader.load(client, STAGE, rows, batchOf("probe-a", 500));
      const staged = (await client.query(`SELECT * FROM ${STAGE.name} ORDER BY attribute_id`)).rows;
      await client.query(`DROP TABLE ${STAGE.name}`);
      return staged;
    });
    expect(got).to.have.length(rows.length);
    expect(got.map((r) => r.value_text)).to.deep.equal(rows.map((r) => r[6]));
    expect(got.map((r) => r.value_bool)).to.deep.equal(rows.map((r) => r[7]));
    expect(got[9].value_text, "the text \\N is not NULL").to.equal("\\N");
    expect(got[7].value_text, "'' is not NULL").to.equal("");
    expect(got[0].ts.toISOString()).to.equal("2026-11-24T10:00:00.123Z");
  });

  it("when the loader is killed between upload and COPY, then the redelivered batch overwrites the object and loads each row exactly once", async () => {
    const rows = trickyRows(102, 2000).map((r) => r.map((v) => (typeof v === "number" && Number.isNaN(v) ? 1 : v)));
    const batch = batchOf("probe-b", 700);
    const key = stagedKey(prefix, batch, STAGE.name);

    await killedLoader("upload", rows, batch);
    expect(await exists(key), "the killed loader left its object").to.equal(true);
    expect(await loadedOf(102), "nothing reached the warehouse").to.have.length(0);

    await deliver(loader, rows, batch);
    const loaded = await loadedOf(102);
    expect(loaded).to.have.length(rows.length);
    expect(loaded.map((r) => Number(r.source_lsn))).to.deep.equal(rows.map((r) => r[8]));
    expect(await exists(key), "the retry rewrote this very key, and settle() removed it after the commit").to.equal(false);
    expect(await objectsOf(batch), "no second object for the same batch").to.deep.equal([]);
  });

  it("when the loader is killed after COPY and merge but before COMMIT, then nothing of it stays and the retry loads each row once", async () => {
    const rows = trickyRows(103, 3000).map((r) => r.map((v) => (typeof v === "number" && Number.isNaN(v) ? 2 : v)));
    const batch = batchOf("probe-c", 900);

    await killedLoader("uncommitted", rows, batch);
    expect(await loadedOf(103), "the open transaction died with its loader").to.have.length(0);

    await deliver(loader, rows, batch);
    expect(await loadedOf(103)).to.have.length(rows.length);
  });

  it("when a committed batch is delivered again (offsets not yet committed), then the merge changes nothing", async () => {
    const rows = trickyRows(104, 4000);
    const batch = batchOf("probe-d", 1100);
    await deliver(loader, rows, batch);
    const first = await loadedOf(104);
    await deliver(loader, rows, batch);
    expect(await loadedOf(104)).to.deep.equal(first);
    expect(first).to.have.length(rows.length);
  });

  it("when the redelivered batch is fetched with more messages (another identity), then the rows of both are still loaded once", async () => {
    const rows = trickyRows(105, 5000);
    await killedLoader("upload", rows.slice(0, 5).map((r) => r.map((v) => (typeof v === "number" && Number.isNaN(v) ? 3 : v))), batchOf("probe-e", 1300));
    await deliver(loader, rows, batchOf("probe-e", 1310));
    expect(await loadedOf(105)).to.have.length(rows.length);
  });

  it("copyStdinLoader and the S3 path load exactly what the multi-row INSERT path loads", async () => {
    const rows = trickyRows(106, 6000);
    const columns = STAGE.columns.map(([c]) => c);
    const staged = await inTransaction(async (client) => {
      const read = async (table: string) => (await client.query(`SELECT * FROM ${table} ORDER BY attribute_id`)).rows;
      const out: Record<string, unknown[]> = {};
      for (const [name, fill] of [
        ["by_insert", (spec: StageSpec) => insertRows(client, spec.name, columns, rows)],
        ["by_copy", (spec: StageSpec) => copyStdinLoader.load(client, spec, rows, batchOf("probe-f", 1))],
        ["by_s3", (spec: StageSpec) => loader.load(client, spec, rows, batchOf("probe-f", 1))],
      ] as const) {
        const spec = { ...STAGE, name: `stage_${name}` };
        await client.query(`CREATE TEMP TABLE ${spec.name} (${spec.columns.map(([c, t]) => `${c} ${t}`).join(", ")}) ON COMMIT DROP`);
        await fill(spec);
        out[name] = await read(spec.name);
      }
      return out;
    });
    await loader.settle(batchOf("probe-f", 1));
    expect(staged.by_insert).to.have.length(rows.length);
    expect(staged.by_copy).to.deep.equal(staged.by_insert);
    expect(staged.by_s3).to.deep.equal(staged.by_insert);
  });
});
