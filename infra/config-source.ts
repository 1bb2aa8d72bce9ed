/**
 * How the program reads stack config: a plain getter (Pulumi's Config cannot
 * be mocked, pulumi/pulumi#16042) and a reader that parses typed values while
 * collecting every problem, each with the command that fixes it.
 */
import * as pulumi from "@pulumi/pulumi";

/** What the program reads config through: `namespace:key` → raw string (structured values as JSON). */
export interface ConfigSource {
  get(key: string): string | undefined;
  /** The same value, marked secret. */
  getSecret(key: string): pulumi.Output<string> | undefined;
}

/** Reads the running stack's config (the program's only use of pulumi.Config). */
export function pulumiConfigSource(): ConfigSource {
  const split = (key: string): [pulumi.Config, string] => {
    const i = key.indexOf(":");
    return [new pulumi.Config(key.slice(0, i)), key.slice(i + 1)];
  };
  return {
    get: (key) => {
      const [cfg, name] = split(key);
      return cfg.get(name);
    },
    getSecret: (key) => {
      const [cfg, name] = split(key);
      return cfg.getSecret(name);
    },
  };
}

/** Typed getters over a ConfigSource; a bad or missing value adds a problem and returns a placeholder. */
export class ConfigReader {
  public readonly problems: string[] = [];

  constructor(private readonly source: ConfigSource, private readonly stack: string) {}

  private hint(key: string, secret = false): string {
    return `pulumi config set ${secret ? "--secret " : ""}${key} <value> --stack ${this.stack}`;
  }

  str(key: string): string {
    const v = this.source.get(key);
    if (v === undefined || v.trim() === "") {
      this.problems.push(`${key} is required: ${this.hint(key)}`);
      return "";
    }
    return v.trim();
  }

  optional(key: string): string | undefined {
    const v = this.source.get(key)?.trim();
    return v ? v : undefined;
  }

  int(key: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const raw = this.str(key);
    if (raw === "") return min;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) this.problems.push(`${key} must be an integer in [${min}, ${max}], got "${raw}"`);
    return n;
  }

  bool(key: string): boolean {
    const raw = this.str(key);
    if (raw !== "" && raw !== "true" && raw !== "false") this.problems.push(`${key} must be true or false, got "${raw}"`);
    return raw === "true";
  }

  oneOf<T extends string>(key: string, allowed: readonly T[]): T {
    const raw = this.str(key);
    if (raw !== "" && !allowed.includes(raw as T)) this.problems.push(`${key} must be one of ${allowed.join(", ")}, got "${raw}"`);
    return raw as T;
  }

  secret(key: string): pulumi.Output<string> {
    const v = this.source.getSecret(key);
    if (v === undefined) {
      this.problems.push(`${key} is required and must be a secret: ${this.hint(key, true)}`);
      return pulumi.secret("");
    }
    return v;
  }

  /** A structured value (YAML mapping, which Pulumi hands over as JSON). */
  json<T>(key: string, fallback: T, required = true): T {
    const raw = required ? this.str(key) : this.optional(key);
    if (!raw) return fallback;
    try {
      return JSON.parse(raw) as T;
    } catch {
      this.problems.push(`${key} must be a YAML/JSON object, got "${raw}"`);
      return fallback;
    }
  }

  /** Records a cross-field problem found by the caller. */
  fail(problem: string): void {
    this.problems.push(problem);
  }
}
