/**
 * The event types and the body of a message (Standard Webhooks' recommended
 * shape: `type`, `timestamp`, `data`). `data` is what the flush transaction
 * wrote (events/ comes from db/migrations/000015_webhooks.sql) plus the
 * freshness fields of the seeds, computed at each send: `committed_at`,
 * `processed_at` and `lag_seconds` (so a retry's body differs in those;
 * its webhook-id does not).
 */
export const EVENT_TYPES = ["entity.created", "entity.updated", "entity.deleted", "endpoint.disabled"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const isEventType = (s: unknown): s is EventType => typeof s === "string" && (EVENT_TYPES as readonly string[]).includes(s);

export interface MessageBody {
  type: string;
  timestamp: string;
  data: Record<string, unknown> & { committed_at: string; processed_at: string; lag_seconds: number };
}

/** Seconds from commit to send, 3 decimals (what X-Processing-Lag-Seconds says). */
export function lagSeconds(committedAt: Date, sentAt: number): number {
  return Math.max(0, Math.round(sentAt - committedAt.getTime())) / 1000;
}

export function messageBody(type: string, data: Record<string, unknown>, committedAt: Date, sentAt: number): MessageBody {
  const processed = new Date(sentAt).toISOString();
  return {
    type,
    timestamp: processed,
    data: { ...data, committed_at: committedAt.toISOString(), processed_at: processed, lag_seconds: lagSeconds(committedAt, sentAt) },
  };
}
