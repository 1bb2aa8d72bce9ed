/**
 * The logarithmic bins of the warehouse's value histograms (the rollups'
 * mergeable sketch, after DDSketch): written by the loader in SQL (BIN_SQL),
 * read back to values by the analytics queries (binValue). Both sides live
 * here so they cannot disagree.
 */
/** γ of the bins: a value's bin holds [m·γ^(k−1), m·γ^k), so its midpoint is within (γ−1)/2 = 1 % of it. */
export const BIN_GAMMA = 1.02;
/** Magnitudes below this share bin 0 (they are zero for any telemetry purpose). */
export const BIN_MIN_MAGNITUDE = 1e-9;

/** The SQL bin of a numeric column; binOf() below is the same in TypeScript (the unit test holds them together). */
export const BIN_SQL = (v: string) =>
  `CAST(CASE WHEN abs(${v}) < ${BIN_MIN_MAGNITUDE} THEN 0 ELSE sign(${v}) * (1 + floor(ln(abs(${v}) / ${BIN_MIN_MAGNITUDE}) / ln(${BIN_GAMMA}))) END AS int)`;

export function binOf(v: number): number {
  if (Math.abs(v) < BIN_MIN_MAGNITUDE) return 0;
  return Math.sign(v) * (1 + Math.floor(Math.log(Math.abs(v) / BIN_MIN_MAGNITUDE) / Math.log(BIN_GAMMA)));
}

/** The value a bin stands for: the midpoint of its range. */
export function binValue(bin: number): number {
  if (bin === 0) return 0;
  const k = Math.abs(bin);
  return Math.sign(bin) * BIN_MIN_MAGNITUDE * BIN_GAMMA ** (k - 1) * ((1 + BIN_GAMMA) / 2);
}

