/**
 * Runs the Pulumi program under mocks with a stack's real config file and
 * records every resource it declares (type, name, inputs as the engine would
 * receive them: secrets stay wrapped in Pulumi's secret envelope).
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { ConfigSource } from "../../infra/config";

export const REPO_ROOT = path.join(__dirname, "..", "..");

/** Recognizable fake secrets: none of these may appear outside a secret envelope. */
export const FAKE_SECRETS: Record<string, string> = {
  "atlas:dbPassword": "S3CR3T-db-password",
  "atlas:redisAuthToken": "S3CR3T-redis-token",
  "atlas:warehousePassword": "S3CR3T-Warehouse-pw1",
  "atlas:webhookSecretKey": "S3CR3T+webhook+key+base64+of+32+bytes+00000=",
};

/**
 * The `config:` section of Pulumi.<stack>.yaml. The files use the subset
 * `  key: value` with JSON flow values for objects, which is all this reads
 * (no YAML dependency); anything else fails loudly.
 */
export function loadStackConfig(stack: string): Record<string, string> {
  const text = fs.readFileSync(path.join(REPO_ROOT, `Pulumi.${stack}.yaml`), "utf8");
  const out: Record<string, string> = {};
  let inConfig = false;
  for (const line of text.split("\n")) {
    if (/^\s*(#.*)?$/.test(line)) continue;
    if (/^config:\s*$/.test(line)) { inConfig = true; continue; }
    if (/^\S/.test(line)) { inConfig = false; continue; }
    if (!inConfig) continue;
    // Encrypted values (`pulumi config set --secret` writes `key:` + `    secure: v1:…`): the tests use FAKE_SECRETS instead.
    if (/^ {4}secure:\s*\S+$/.test(line)) continue;
    const m = /^ {2}([\w-]+:[\w-]+):\s*(.*)$/.exec(line);
    if (!m) throw new Error(`Pulumi.${stack}.yaml: unsupported line for the test parser: ${line}`);
    let value = m[2].trim();
    if (value === "") continue; // a mapping follows: only `secure:` is supported (above)
    if (/^".*"$/.test(value) || /^'.*'$/.test(value)) value = value.slice(1, -1);
    if (value.startsWith("{") || value.startsWith("[")) value = JSON.stringify(JSON.parse(value)); // must be JSON
    out[m[1]] = value;
  }
  return out;
}

export function configSource(values: Record<string, string | undefined>, secrets: Record<string, string | undefined> = FAKE_SECRETS): ConfigSource {
  return {
    get: (key) => values[key] ?? secrets[key],
    getSecret: (key) => {
      const v = secrets[key] ?? values[key];
      return v === undefined ? undefined : pulumi.secret(v);
    },
  };
}

export interface RecordedResource {
  type: string;
  name: string;
  inputs: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  id: string;
}

/** Outputs the mocks give resources whose real values come from AWS. */
function mockState(type: string, name: string, inputs: Record<string, any>): Record<string, unknown> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const arn = `arn:aws:mock:us-east-1:123456789012:${type.split(":")[1]}/${name}`;
  const base = { ...inputs, arn, name: inputs.name ?? name };
  switch (type) {
    case "awsx:ec2:Vpc":
      return { ...base, vpcId: "vpc-mock", publicSubnetIds: ["subnet-public-a", "subnet-public-b", "subnet-public-c"], privateSubnetIds: ["subnet-private-a", "subnet-private-b", "subnet-private-c"] };
    case "awsx:ecr:Image":
      return { ...base, imageUri: "123456789012.dkr.ecr.us-east-1.amazonaws.com/atlas@sha256:mock" };
    case "aws:rds/instance:Instance":
      return { ...base, identifier: name, address: `${name}.mock.rds.amazonaws.com`, endpoint: `${name}.mock.rds.amazonaws.com:5432` };
    case "aws:rds/proxy:Proxy":
      return { ...base, endpoint: `${name}.proxy-mock.rds.amazonaws.com` };
    case "aws:elasticache/replicationGroup:ReplicationGroup":
      return { ...base, primaryEndpointAddress: `master.${name}.mock.cache.amazonaws.com` };
    case "aws:msk/cluster:Cluster":
      return { ...base, clusterName: name, bootstrapBrokersTls: "b-1.mock.kafka:9094,b-2.mock.kafka:9094,b-3.mock.kafka:9094" };
    case "aws:redshift/cluster:Cluster":
      return { ...base, dnsName: `${name}.mock.redshift.amazonaws.com` };
    case "aws:lb/loadBalancer:LoadBalancer":
      return { ...base, dnsName: `${name}.elb.mock.amazonaws.com`, arnSuffix: `app/${name}/mock` };
    case "aws:lb/targetGroup:TargetGroup":
      return { ...base, arnSuffix: `targetgroup/${name}/mock` };
    case "aws:msk/configuration:Configuration":
    case "aws:mskconnect/customPlugin:CustomPlugin":
    case "aws:mskconnect/workerConfiguration:WorkerConfiguration":
      return { ...base, latestRevision: 1 };
    case "aws:kms/key:Key":
      return { ...base, keyId: `key-${name}` };
    default:
      return base;
  }
}

export interface ProgramRun {
  resources: RecordedResource[];
  outputs: Record<string, unknown>;
}

/** Runs infra/index.ts for `stack` with `values` (defaults to the stack's yaml) and returns what it declared. */
export async function runProgram(stack: string, values: Record<string, string | undefined> = loadStackConfig(stack), secrets: Record<string, string | undefined> = FAKE_SECRETS): Promise<ProgramRun> {
  const resources: RecordedResource[] = [];
  await pulumi.runtime.setMocks({
    newResource: (args: pulumi.runtime.MockResourceArgs) => {
      const id = `${args.name}-id`;
      resources.push({ type: args.type, name: args.name, inputs: args.inputs, id });
      return { id, state: mockState(args.type, args.name, args.inputs) };
    },
    call: (args: pulumi.runtime.MockCallArgs) => args.inputs,
  }, "atlas-telemetry", stack, false);

  const program = (await import("../../infra")).default as unknown as (source: ConfigSource, stack: string) => Promise<Record<string, pulumi.Input<unknown>>>;
  const outputs = await pulumi.runtime.runInPulumiStack(() => program(configSource(values, secrets), stack));
  await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
  return { resources, outputs: (outputs ?? {}) as Record<string, unknown> };
}

export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";

/** JSON of `value` with every secret envelope's content replaced by a marker. */
export function withoutSecrets(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (v && typeof v === "object" && SECRET_SIG_KEY in v ? "[secret]" : v));
}

export function ofType(run: ProgramRun, type: string): RecordedResource[] {
  return run.resources.filter((r) => r.type === type);
}

export function one(run: ProgramRun, type: string, nameIncludes = ""): RecordedResource {
  const found = ofType(run, type).filter((r) => r.name.includes(nameIncludes));
  if (found.length !== 1) throw new Error(`expected one ${type} named *${nameIncludes}*, found ${found.map((r) => r.name).join(", ") || "none"}`);
  return found[0];
}

/** Unwraps a secret envelope (tests that need to look inside one). */
export function reveal<T>(v: T | { [SECRET_SIG_KEY]: string; value: T }): T {
  return v && typeof v === "object" && SECRET_SIG_KEY in (v as object) ? (v as { value: T }).value : (v as T);
}
