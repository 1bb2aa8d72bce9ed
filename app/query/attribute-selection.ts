/**
 * Which attributes an answer carries: `?attributes=a,b` on GET
 * /v1/entities/{id} and the timeseries route, `attributes` in batch-get.
 * One grammar for the list (comma-separated or an array, trimmed, deduped,
 * order kept) and one check against the tenant's catalog, so a typo is a 400
 * naming it rather than an answer silently missing that attribute.
 */
import { badRequest } from "../shared/http/errors";
import type { AttributeCatalog } from "./catalog";
import type { EntityView } from "./sql/entities";

/** Names one request may select. */
export const MAX_SELECTED_ATTRIBUTES = 100;

/** Attribute names from a comma-separated query value or a JSON array; empty → []. */
export function parseAttributeNames(raw: unknown, field = "attributes"): string[] {
  const parts = typeof raw === "string" ? raw.split(",") : Array.isArray(raw) && raw.every((x) => typeof x === "string") ? (raw as string[]) : null;
  if (raw !== undefined && parts === null) throw badRequest("invalid_parameter", `${field} must be a comma-separated list (or an array) of attribute names`, field);
  const names = [...new Set((parts ?? []).map((s) => s.trim()).filter((s) => s.length > 0))];
  if (names.length > MAX_SELECTED_ATTRIBUTES) throw badRequest("invalid_parameter", `at most ${MAX_SELECTED_ATTRIBUTES} attributes`, field);
  return names;
}

/**
 * The selection of a request, checked against the tenant's catalog: null
 * when it selects nothing (every attribute), else the names. A name the
 * tenant has not registered is a 400.
 */
export async function attributeSelection(catalog: AttributeCatalog, tenantId: string, raw: unknown, field = "attributes"): Promise<ReadonlySet<string> | null> {
  if (raw === undefined) return null;
  const names = parseAttributeNames(raw, field);
  if (names.length === 0) throw badRequest("invalid_parameter", `${field} must name at least one attribute`, field);
  const dict = await catalog.dictionary(tenantId, names);
  const unknown = names.filter((n) => !dict.has(n));
  if (unknown.length > 0) throw badRequest("unknown_attributes", `unknown attribute(s): ${unknown.join(", ")}`, field, { unknown });
  return new Set(names);
}

/** The entity with only the selected attributes (an attribute it has no value for is absent, as in the full answer). */
export function selectAttributes(entity: EntityView, selection: ReadonlySet<string> | null): EntityView {
  if (selection === null) return entity;
  const attributes: EntityView["attributes"] = {};
  for (const name of selection) if (Object.hasOwn(entity.attributes, name)) attributes[name] = entity.attributes[name];
  return { ...entity, attributes };
}
