/**
 * The SSRF guard, applied at registration (checkTarget: 400 naming `url`)
 * and on every send (guardedLookup: the addresses the socket will actually
 * connect to, so a DNS answer that changed since registration, or a
 * rebinding between a check and the connect, is caught at connect time).
 */
import { lookup as dnsLookup, type LookupAddress } from "dns";
import { promises as dns } from "dns";
import { isIP, type LookupFunction } from "net";
import { badRequest } from "../../shared/http/errors";
import { classifyAddress } from "./addresses";

export class TargetRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TargetRefusedError";
  }
}

const refusal = (host: string, address: string, verdict: string) =>
  verdict === "metadata"
    ? `url resolves to a cloud metadata address (${host} → ${address}), which is never allowed`
    : `url resolves to a loopback, private or link-local address (${host} → ${address}); only public targets are allowed`;

/** Parses and checks a receiver URL: scheme, host, and where the host resolves now. Throws AppError 400 field `url`. */
export async function checkTarget(raw: unknown, allowPrivate: boolean): Promise<URL> {
  if (typeof raw !== "string" || raw.length === 0 || raw.length > 2048) throw badRequest("invalid_url", "url must be an absolute URL of at most 2,048 characters", "url");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw badRequest("invalid_url", "url is not a valid absolute URL", "url");
  }
  if (url.protocol !== "https:" && !(allowPrivate && url.protocol === "http:")) {
    throw badRequest("invalid_url", allowPrivate ? "url must be http(s)" : "url must use https", "url");
  }
  if (url.username || url.password) throw badRequest("invalid_url", "url must not carry credentials", "url");
  const host = url.hostname.replace(/^\[|\]$/g, "");
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await dns.lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch {
      throw badRequest("invalid_url", `url's host ${host} does not resolve`, "url");
    }
  }
  for (const address of addresses) {
    const verdict = classifyAddress(address, allowPrivate);
    if (verdict !== "allowed") throw badRequest("target_not_allowed", refusal(host, address, verdict), "url");
  }
  return url;
}

/** A literal-IP URL never reaches the lookup: checked before the request. */
export function checkLiteralHost(url: URL, allowPrivate: boolean): void {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (!isIP(host)) return;
  const verdict = classifyAddress(host, allowPrivate);
  if (verdict !== "allowed") throw new TargetRefusedError(refusal(host, host, verdict));
}

/** dns.lookup for http(s).request that refuses to hand a disallowed address to the socket. */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, "", 0);
      for (const a of addresses) {
        const verdict = classifyAddress(a.address, allowPrivate);
        if (verdict !== "allowed") return callback(new TargetRefusedError(refusal(hostname, a.address, verdict)), "", 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}
