/**
 * One HTTP attempt: POST the body with the given headers, through the SSRF
 * guard's lookup (the address actually connected to is checked), a 15 s
 * overall timeout (Svix's), and no redirects followed (node's http does not
 * follow them; a 3xx is a failure, as Svix treats it). The response body is
 * read up to 1 KiB (for the delivery log) and the rest discarded.
 */
import http from "http";
import https from "https";
import { checkLiteralHost, guardedLookup, TargetRefusedError } from "../ssrf/guard";

export const SEND_TIMEOUT_MS = 15_000;
const KEEP_BYTES = 1024;

export interface AttemptResult {
  /** HTTP status; undefined when no response arrived. */
  status?: number;
  retryAfter?: string;
  latencyMs: number;
  /** Why no response, or the start of the failing response's body. */
  error?: string;
  /** The SSRF guard refused the target. */
  refused?: boolean;
}

export function sendAttempt(url: string, headers: Record<string, string>, body: string, opts: { allowPrivate: boolean; timeoutMs?: number }): Promise<AttemptResult> {
  const started = process.hrtime.bigint();
  const elapsed = () => Number((process.hrtime.bigint() - started) / 1_000_000n);
  return new Promise((resolve) => {
    let target: URL;
    try {
      target = new URL(url);
      checkLiteralHost(target, opts.allowPrivate);
    } catch (err) {
      return resolve({ latencyMs: 0, error: (err as Error).message, refused: err instanceof TargetRefusedError });
    }
    const lib = target.protocol === "https:" ? https : http;
    let done = false;
    const finish = (r: AttemptResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = lib.request(
      target,
      {
        method: "POST",
        headers: { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(body), "user-agent": "Atlas-Webhooks/1" },
        lookup: guardedLookup(opts.allowPrivate),
        agent: false, // one connection per attempt: a pooled socket would skip the lookup's check
      },
      (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on("data", (c: Buffer) => {
          if (kept < KEEP_BYTES) (chunks.push(c), (kept += c.length));
        });
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          const ok = status >= 200 && status < 300;
          const retryAfter = res.headers["retry-after"];
          finish({
            status,
            latencyMs: elapsed(),
            retryAfter: typeof retryAfter === "string" ? retryAfter : undefined,
            error: ok ? undefined : Buffer.concat(chunks).subarray(0, KEEP_BYTES).toString("utf8") || `HTTP ${status}`,
          });
        });
        res.on("error", (err) => finish({ status: res.statusCode, latencyMs: elapsed(), error: err.message }));
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer within ${(opts.timeoutMs ?? SEND_TIMEOUT_MS) / 1000} s`));
    }, opts.timeoutMs ?? SEND_TIMEOUT_MS);
    req.on("error", (err) => finish({ latencyMs: elapsed(), error: err.message, refused: err instanceof TargetRefusedError }));
    req.end(body);
  });
}
