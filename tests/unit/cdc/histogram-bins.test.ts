import { expect } from "chai";
import { BIN_GAMMA, binOf, binValue } from "../../../app/cdc/histogram-bins";

describe("cdc: the rollups' logarithmic histogram bins", () => {
  it("when a value is binned and read back, then it is within 1 % of itself, for magnitudes from 1e-6 to 1e15 and both signs", () => {
    for (let e = -6; e <= 15; e += 0.37) {
      for (const sign of [1, -1]) {
        const v = sign * 10 ** e;
        expect(Math.abs(binValue(binOf(v)) - v) / Math.abs(v), String(v)).to.be.at.most((BIN_GAMMA - 1) / (BIN_GAMMA + 1) + 1e-12);
      }
    }
  });

  it("when values are ordered, then their bins are ordered too (so a running count over bins gives a rank)", () => {
    const values = [-1e9, -500, -1, -0.001, 0, 1e-12, 0.001, 1, 1.5, 2, 500, 1e9];
    const bins = values.map(binOf);
    for (let i = 1; i < bins.length; i++) expect(bins[i], `${values[i - 1]} → ${values[i]}`).to.be.at.least(bins[i - 1]);
    expect(binOf(0)).to.equal(0);
    expect(binValue(0)).to.equal(0);
  });
});
