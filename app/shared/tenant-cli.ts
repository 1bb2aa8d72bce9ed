/**
 * `npm run tenant -- <command>` against DATABASE_URL:
 *   create <name> [--register-unknown]  → {"tenant_id":…,"api_key":"…","key_id":…}
 *   create-key <tenant_id>              → {"tenant_id":…,"api_key":"…","key_id":…}
 *   revoke <tenant_id> <key_id>         → {"revoked":true|false}
 *   list                                → one JSON line per tenant
 * The key is printed once; only its hash is stored.
 */
import { loadConfigOrExit, requireSetting } from "./config";
import { createPool } from "./db";
import { createApiKey, createTenant, listTenants, revokeApiKey } from "./tenants";

const USAGE = "usage: npm run tenant -- create <name> [--register-unknown] | create-key <tenant_id> | revoke <tenant_id> <key_id> | list";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

function uuidArg(value: string | undefined, what: string): string {
  if (!value || !UUID.test(value)) fail(`${what} must be a UUID\n${USAGE}`);
  return value;
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
        const name = args.find((a) => !a.startsWith("--"));
        if (!name) fail(`create needs a name\n${USAGE}`);
        const created = await createTenant(pool, name, {
          unknownAttributes: args.includes("--register-unknown") ? "register" : "reject",
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
