/** The JSON shapes of endpoints and deliveries (openapi.ts describes them). */
import type { DeliveryRow, EndpointRow } from "./store";

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function endpointView(r: EndpointRow) {
  return {
    id: r.endpoint_id,
    url: r.url,
    events: r.event_types,
    filter: { entity_type: r.filter_entity_type, attributes: r.filter_attributes },
    description: r.description,
    enabled: r.enabled,
    disabled_reason: r.disabled_reason,
    disabled_at: iso(r.disabled_at),
    failing_since: iso(r.failing_since),
    previous_secret_expires_at: r.previous_expires_at && r.previous_expires_at.getTime() > Date.now() ? r.previous_expires_at.toISOString() : null,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  };
}

export function deliveryView(r: DeliveryRow) {
  return {
    delivery_id: r.delivery_id,
    event_type: r.event_type,
    entity_id: r.entity_id === null ? null : Number(r.entity_id),
    state: r.state,
    attempts: r.attempts,
    committed_at: r.committed_at.toISOString(),
    next_attempt_at: r.state === "pending" ? r.next_attempt_at.toISOString() : null,
    last_status: r.last_status,
    last_error: r.last_error,
    delivered_at: iso(r.delivered_at),
    attempt_log: r.attempt_log,
  };
}
