/**
 * Valid `tz` values: the server's own list (pg_timezone_names), loaded once
 * per process and kept; PostgreSQL does the time-zone arithmetic, so its
 * list is the one that matters. Lookup is case-insensitive and returns the
 * canonical spelling.
 */
import type { Pool } from "pg";
import { badRequest } from "../../shared/http/errors";

export class TimeZones {
  private names: Promise<Map<string, string>> | null = null;

  constructor(private readonly pool: Pool) {}

  /** The canonical name of `tz`; 400 naming `tz` when PostgreSQL does not know it. */
  async canonical(tz: string): Promise<string> {
    if (tz.toUpperCase() === "UTC") return "UTC";
    if (!this.names) {
      this.names = this.pool
        .query<{ name: string }>("SELECT name FROM pg_timezone_names")
        .then((r) => new Map(r.rows.map((row) => [row.name.toLowerCase(), row.name])));
      this.names.catch(() => {
        this.names = null; // retry on the next request
      });
    }
    const found = (await this.names).get(tz.toLowerCase());
    if (!found) throw badRequest("invalid_parameter", `tz '${tz}' is not a known time zone (IANA name, e.g. Europe/Berlin)`, "tz");
    return found;
  }
}
