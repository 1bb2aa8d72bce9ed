/**
 * The rejected rows of an import, for its job's result: every rejected row
 * counted, the first `cap` problems listed with where they are (the result
 * is one jsonb value; a file of a million bad rows must not make it huge).
 */
import type { RowLocation, RowProblem } from "./rows";

export type Rejection = RowLocation & RowProblem;

export class RejectionLog {
  readonly listed: Rejection[] = [];
  /** Rejected rows. */
  rows = 0;
  /** Problems not listed once the cap was reached. */
  omitted = 0;
  constructor(private readonly cap = 1_000) {}

  add(at: RowLocation, problems: readonly RowProblem[]): void {
    this.rows++;
    for (const p of problems) {
      if (this.listed.length < this.cap) this.listed.push({ ...at, ...p });
      else this.omitted++;
    }
  }
}
