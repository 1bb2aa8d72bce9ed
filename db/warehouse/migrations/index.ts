/**
 * The warehouse migrations, in order. Forward only: append the next one
 * (NNNN_<name>.ts exporting a Migration), never edit or reorder a landed one.
 */
import type { Migration, Table } from "../schema";
import { migration0001 } from "./0001_warehouse";
import { migration0002 } from "./0002_current_state_by_attribute";
import { migration0003 } from "./0003_attribute_rollups";

export const MIGRATIONS: readonly Migration[] = [migration0001, migration0002, migration0003];

/**
 * The tables a warehouse holds after `migrations`, by name: the migrations'
 * schema steps replayed. What the tests compare a migrated database with.
 */
export function schemaAfter(migrations: readonly Migration[] = MIGRATIONS): Map<string, Table> {
  const tables = new Map<string, Table>();
  for (const { version, steps } of migrations) {
    for (const step of steps) {
      if (step.kind === "createTable") {
        if (tables.has(step.table.name)) throw new Error(`${version}: table ${step.table.name} already exists`);
        tables.set(step.table.name, step.table);
      } else if (step.kind === "renameTable") {
        const table = tables.get(step.from);
        if (!table) throw new Error(`${version}: cannot rename missing table ${step.from}`);
        tables.delete(step.from);
        tables.set(step.to, { ...table, name: step.to });
      } else if (step.kind === "dropTable") {
        if (!tables.delete(step.name)) throw new Error(`${version}: cannot drop missing table ${step.name}`);
      }
    }
  }
  return tables;
}
