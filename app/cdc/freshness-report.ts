/**
 * The loader's own report of analytics freshness, once a minute: the gauge
 * `atlas_analytics_lag_seconds`, and a log line that CloudWatch turns into
 * the metric of the analytics-lag alarm (infra/monitoring/thresholds.ts
 * LOG_METRICS). The lag is the one analytics answers report
 * (app/cdc/watermark.ts), so the page and the headers agree. No line while
 * nothing was ever loaded: the alarm treats a missing datapoint as breaching.
 */
import type { Pool } from "../shared/db";
import { gauge } from "../shared/http/metrics";
import { log } from "../shared/log";
import { readWarehouseLag } from "./watermark";

/** Renaming it or its field breaks the alarm's log metric filter. */
export const ANALYTICS_FRESHNESS_LOG = "analytics freshness";

const lagGauge = gauge("atlas_analytics_lag_seconds", "How far the warehouse trails the primary, seconds (the analytics answers' X-Data-Lag-Seconds)");

export function reportAnalyticsFreshness(warehouse: Pool, intervalMs = 60_000): () => void {
  const tick = async () => {
    try {
      const lag = await readWarehouseLag(warehouse);
      if (lag === null) return;
      lagGauge.set(lag);
      log.info(ANALYTICS_FRESHNESS_LOG, { lag_seconds: Math.round(lag * 1000) / 1000 });
    } catch (err) {
      log.warn("analytics freshness not measured", { error: err });
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
