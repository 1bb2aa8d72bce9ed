/**
 * `npm run tenant -- <command>` against DATABASE_URL:
 *   create <name> [--register-unknown] [--retention-days N]
 *                                       → {"tenant_id":…,"api_key":"…","key_id":…}
 *   create-key <tenant_id>              → {"tenant_id":…,"api_key":"…","key_id":…}
 *   revoke <tenant_id> <key_id>         → {"revoked":true|false}
 *   list                                → one JSON line per tenant
 *   deactivate <name> | reactivate <name>
 *                                       → {"tenant_id":…,"deactivated":true|false}; keys answer 401 within 1 s
 *   set-retention <name> <days|default> → {"tenant_id":…,"retention_days":N|null}
 *   erase <name>                        → rows removed per store (primary tables, cache keys, warehouse tables)
 * The key is printed once; only its hash is stored.
 */
import { loadConfigOrExit, requireSetting } from "./config";
import { createPool, type Pool } from "./db";
import { createRedis } from "./redis";
import {
  createApiKey, createTenant, findTenantIdByName, listTenants, revokeApiKey, setTenantDeactivated, setTenantRetention,
} from "./tenants";
import { eraseTenant } from "../lifecycle/tenant-erasure";

const USAGE =
  "usage: npm run tenant -- create <name> [--register-unknown] [--retention-days N] | create-key <tenant_id> | " +
  "revoke <tenant_id> <key_id> | list | deactivate <name> | reactivate <name> | set-retention <name> <days|default> | erase <name>";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

function uuidArg(value: string | undefined, what: string): string {
  if (!value || !UUID.test(value)) fail(`${what} must be a UUID\n${USAGE}`);
  return value;
}

function daysArg(value: string | undefined, what: string): number {
  if (!value || !/^[1-9]\d{0,5}$/.test(value)) fail(`${what} must be a whole number of days, at least 1\n${USAGE}`);
  return Number(value);
}

async function tenantByName(pool: Pool, name: string | undefined): Promise<string> {
  if (!name) fail(`a tenant name is required\n${USAGE}`);
  const tenantId = await findTenantIdByName(pool, name);
  if (!tenantId) fail(`no tenant named "${name}"`);
  return tenantId;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (!command) fail(USAGE);
  const config = loadConfigOrExit();
  const pool = createPool(requireSetting(config, "DATABASE_URL"), "tenant-cli", { max: 1 });
  const out = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
  try {
    switch (command) {
      case "create": {
        const name = args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--retention-days");
        if (!name) fail(`create needs a name\n${USAGE}`);
        const retentionAt = args.indexOf("--retention-days");
        const created = await createTenant(pool, name, {
          unknownAttributes: args.includes("--register-unknown") ? "register" : "reject",
          retentionDays: retentionAt >= 0 ? daysArg(args[retentionAt + 1], "--retention-days") : null,
        });
        out({ tenant_id: created.tenant_id, api_key: created.api_key, key_id: created.key_id });
        break;
      }
      case "create-key": {
        const tenantId = uuidArg(args[0], "tenant_id");
        const key = await createApiKey(pool, tenantId);
        out({ tenant_id: tenantId, api_key: key.api_key, key_id: key.key_id });
        break;
      }
      case "revoke": {
        const revoked = await revokeApiKey(pool, uuidArg(args[0], "tenant_id"), uuidArg(args[1], "key_id"));
        out({ revoked });
        break;
      }
      case "list":
        for (const t of await listTenants(pool)) out(t);
        break;
      case "deactivate":
      case "reactivate": {
        const tenantId = await tenantByName(pool, args[0]);
        await setTenantDeactivated(pool, tenantId, command === "deactivate");
        out({ tenant_id: tenantId, deactivated: command === "deactivate" });
        break;
      }
      case "set-retention": {
        const tenantId = await tenantByName(pool, args[0]);
        const days = args[1] === "default" ? null : daysArg(args[1], "days");
        await setTenantRetention(pool, tenantId, days);
        out({ tenant_id: tenantId, retention_days: days });
        break;
      }
      case "erase": {
        const tenantId = await tenantByName(pool, args[0]);
        const redis = config.REDIS_URL ? createRedis(config.REDIS_URL, "tenant-cli") : undefined;
        const warehouse = config.WAREHOUSE_URL ? createPool(config.WAREHOUSE_URL, "tenant-cli-warehouse", { max: 1 }) : undefined;
        try {
          out({ tenant_id: tenantId, erased: await eraseTenant(pool, tenantId, { redis, warehouse }) });
        } finally {
          redis?.disconnect();
          await warehouse?.end();
        }
        break;
      }
      default:
        fail(`unknown command ${command}\n${USAGE}`);
    }
  } finally {
    await pool.end();
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`tenant: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
