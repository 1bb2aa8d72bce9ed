/**
 * The endpoint bodies of POST and PATCH /v1/webhooks, checked field by field
 * with the contract's errors (400, a machine-readable code, the field named).
 */
import { badRequest } from "../../shared/http/errors";
import { EVENT_TYPES, isEventType, type EventType } from "../events/payload";
import { checkTarget } from "../ssrf/guard";

export interface EndpointFilter {
  entity_type: string | null;
  attributes: string[] | null;
}

export interface EndpointInput {
  url: string;
  events: EventType[];
  filter: EndpointFilter;
  description: string | null;
}

export type EndpointPatch = Partial<EndpointInput & { enabled: boolean }>;

const CREATE_FIELDS = new Set(["url", "events", "filter", "description"]);
const PATCH_FIELDS = new Set(["url", "events", "filter", "description", "enabled"]);
const NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

function object(body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest("invalid_body", "the body must be a JSON object", "body");
  return body as Record<string, unknown>;
}

function onlyKnown(body: Record<string, unknown>, known: Set<string>): void {
  const unknown = Object.keys(body).find((k) => !known.has(k));
  if (unknown) throw badRequest("unknown_field", `${unknown} is not a field of a webhook endpoint (${[...known].join(", ")})`, unknown);
}

function events(raw: unknown): EventType[] {
  if (!Array.isArray(raw) || raw.length === 0) throw badRequest("invalid_events", `events must be a non-empty array of ${EVENT_TYPES.join(", ")}`, "events");
  const bad = raw.find((e) => !isEventType(e));
  if (bad !== undefined) throw badRequest("unknown_event_type", `${JSON.stringify(bad)} is not an event type (${EVENT_TYPES.join(", ")})`, "events");
  return [...new Set(raw as EventType[])];
}

function filter(raw: unknown): EndpointFilter {
  if (raw === undefined || raw === null) return { entity_type: null, attributes: null };
  if (typeof raw !== "object" || Array.isArray(raw)) throw badRequest("invalid_filter", "filter must be an object {entity_type, attributes}", "filter");
  const f = raw as Record<string, unknown>;
  onlyKnown(f, new Set(["entity_type", "attributes"]));
  const type = f.entity_type ?? null;
  if (type !== null && (typeof type !== "string" || !NAME.test(type))) throw badRequest("invalid_filter", "filter.entity_type must be a name of 1-128 letters, digits, _ . : -", "filter.entity_type");
  const attributes = f.attributes ?? null;
  if (attributes !== null && (!Array.isArray(attributes) || attributes.length === 0 || attributes.length > 500 || attributes.some((a) => typeof a !== "string" || !NAME.test(a)))) {
    throw badRequest("invalid_filter", "filter.attributes must be a non-empty array of up to 500 attribute names", "filter.attributes");
  }
  return { entity_type: type as string | null, attributes: attributes ? [...new Set(attributes as string[])] : null };
}

function description(raw: unknown): string | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== "string" || raw.length > 512 || raw.includes("\u0000")) throw badRequest("invalid_description", "description must be a string of at most 512 characters", "description");
  return raw;
}

export async function parseCreate(body: unknown, allowPrivate: boolean): Promise<EndpointInput> {
  const b = object(body);
  onlyKnown(b, CREATE_FIELDS);
  if (b.url === undefined) throw badRequest("invalid_url", "url is required", "url");
  const ev = events(b.events);
  return { url: (await checkTarget(b.url, allowPrivate)).toString(), events: ev, filter: filter(b.filter), description: description(b.description) };
}

export async function parsePatch(body: unknown, allowPrivate: boolean): Promise<EndpointPatch> {
  const b = object(body);
  onlyKnown(b, PATCH_FIELDS);
  const patch: EndpointPatch = {};
  if ("events" in b) patch.events = events(b.events);
  if ("filter" in b) patch.filter = filter(b.filter);
  if ("description" in b) patch.description = description(b.description);
  if ("enabled" in b) {
    if (typeof b.enabled !== "boolean") throw badRequest("invalid_enabled", "enabled must be true or false", "enabled");
    patch.enabled = b.enabled;
  }
  if ("url" in b) patch.url = (await checkTarget(b.url, allowPrivate)).toString();
  return patch;
}
