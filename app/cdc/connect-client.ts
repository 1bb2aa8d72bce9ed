/**
 * The few Kafka Connect REST calls we need (https://kafka.apache.org/documentation/#connect_rest),
 * over Node's fetch. Used by the register command and the tests (restart,
 * pause/resume).
 */

export interface ConnectorStatus {
  name: string;
  connector: { state: string; worker_id?: string; trace?: string };
  tasks: { id: number; state: string; worker_id?: string; trace?: string }[];
}

export class ConnectClient {
  constructor(private readonly baseUrl: string, private readonly timeoutMs = 10_000) {}

  private async call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const res = await fetch(new URL(path, this.baseUrl), {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    return { status: res.status, json };
  }

  private static fail(what: string, r: { status: number; json: unknown }): never {
    const msg = (r.json as { message?: string })?.message ?? JSON.stringify(r.json);
    throw new Error(`Kafka Connect ${what}: HTTP ${r.status}: ${msg}`);
  }

  /** PUT /connectors/{name}/config: creates or updates; idempotent. Returns true when created. */
  async putConfig(name: string, config: Record<string, string>): Promise<boolean> {
    const r = await this.call("PUT", `/connectors/${encodeURIComponent(name)}/config`, config);
    if (r.status !== 200 && r.status !== 201) ConnectClient.fail(`PUT config of ${name}`, r);
    return r.status === 201;
  }

  /** GET /connectors/{name}/config, or null when there is no such connector. */
  async getConfig(name: string): Promise<Record<string, string> | null> {
    const r = await this.call("GET", `/connectors/${encodeURIComponent(name)}/config`);
    if (r.status === 404) return null;
    if (r.status !== 200) ConnectClient.fail(`config of ${name}`, r);
    return r.json as Record<string, string>;
  }

  async status(name: string): Promise<ConnectorStatus | null> {
    const r = await this.call("GET", `/connectors/${encodeURIComponent(name)}/status`);
    if (r.status === 404) return null;
    if (r.status !== 200) ConnectClient.fail(`status of ${name}`, r);
    return r.json as ConnectorStatus;
  }

  /** Restarts the connector and its tasks (KIP-745). */
  async restart(name: string): Promise<void> {
    const r = await this.call("POST", `/connectors/${encodeURIComponent(name)}/restart?includeTasks=true`);
    if (r.status >= 300) ConnectClient.fail(`restart of ${name}`, r);
  }

  async pause(name: string): Promise<void> {
    const r = await this.call("PUT", `/connectors/${encodeURIComponent(name)}/pause`);
    if (r.status >= 300) ConnectClient.fail(`pause of ${name}`, r);
  }

  /** PUT /connectors/{name}/stop (Connect 3.5+): shuts the tasks down, keeps config and offsets. */
  async stop(name: string): Promise<void> {
    const r = await this.call("PUT", `/connectors/${encodeURIComponent(name)}/stop`);
    if (r.status >= 300) ConnectClient.fail(`stop of ${name}`, r);
  }

  async resume(name: string): Promise<void> {
    const r = await this.call("PUT", `/connectors/${encodeURIComponent(name)}/resume`);
    if (r.status >= 300) ConnectClient.fail(`resume of ${name}`, r);
  }

  /**
   * Waits until the connector and every task report `state`, failing fast on
   * FAILED (with Debezium's trace, which names the cause). Defaults to RUNNING within 90 s.
   */
  async waitFor(name: string, state = "RUNNING", timeoutMs = 90_000): Promise<ConnectorStatus> {
    const deadline = Date.now() + timeoutMs;
    let last: ConnectorStatus | null = null;
    for (;;) {
      last = await this.status(name).catch(() => null);
      if (last) {
        const failed = [last.connector, ...last.tasks].find((s) => s.state === "FAILED");
        if (failed) throw new Error(`connector ${name} FAILED: ${(failed.trace ?? "").split("\n").slice(0, 3).join(" | ")}`);
        if (last.connector.state === state && last.tasks.length > 0 && last.tasks.every((t) => t.state === state)) {
          return last;
        }
      }
      if (Date.now() > deadline) {
        throw new Error(`connector ${name} not ${state} after ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
