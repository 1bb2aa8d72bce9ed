/**
 * SIGTERM/SIGINT handling for every process (ECS sends SIGTERM, then SIGKILL
 * after the stop timeout): run the stop steps once, in order; a second signal
 * or the deadline forces exit.
 */
import { log } from "./log";

export function onShutdown(stop: () => Promise<void>, deadlineMs = 25_000): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn("second signal, exiting now", { signal });
      process.exit(1);
    }
    stopping = true;
    log.info("shutting down", { signal });
    setTimeout(() => {
      log.error("shutdown deadline passed, exiting", { deadline_ms: deadlineMs });
      process.exit(1);
    }, deadlineMs).unref();
    stop()
      .then(() => process.exit(0))
      .catch((err) => {
        log.error("shutdown failed", { error: err });
        process.exit(1);
      });
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
}
