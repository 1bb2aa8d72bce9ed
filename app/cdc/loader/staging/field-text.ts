/**
 * One JS value of a staged row as the text both warehouses parse for its
 * column, or null for SQL NULL. The rows come from plan.ts: strings (ISO
 * timestamps with microseconds, dates, text), numbers, booleans, nulls.
 */
export function fieldText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case "string":
      return value;
    case "number":
    case "bigint":
      return String(value);
    case "boolean":
      return value ? "t" : "f";
    default:
      // Not toString(): a Date's would be local time, an object's "[object Object]".
      if (value instanceof Date) return value.toISOString();
      throw new TypeError(`staging: cannot stage a value of type ${typeof value} (${Object.prototype.toString.call(value)})`);
  }
}
