import { expect } from "chai";
import { computeLagSeconds, parseLsn, PositionHistory } from "../../../app/query/routing/lag";

const lsn = (s: string) => parseLsn(s);

describe("query: replica lag computation", () => {
  it("parses pg_lsn text so that positions compare in WAL order", () => {
    expect(lsn("0/16B3748") < lsn("0/16B3750")).to.equal(true);
    expect(lsn("1/0") > lsn("0/FFFFFFFF")).to.equal(true);
    expect(() => parseLsn("nonsense")).to.throw();
  });

  it("when the replica has replayed past the primary position read just before, then lag is 0 even if the last commit is old (idle primary)", () => {
    const history = [{ atMs: 10_000, lsn: lsn("0/3000000") }];
    const lag = computeLagSeconds(
      { inRecovery: true, replayLsn: lsn("0/3000000"), replayTimestampMs: 0, replicaNowMs: 3_600_000, probedAtMs: 10_005 },
      history,
    );
    expect(lag).to.equal(0);
  });

  it("when replay is behind, then lag is the smaller of the time since the last replayed commit and since the newest reached primary position", () => {
    const history = [
      { atMs: 1_000, lsn: lsn("0/1000") },
      { atMs: 2_000, lsn: lsn("0/2000") },
      { atMs: 3_000, lsn: lsn("0/3000") },
    ];
    // replayed up to a position the primary had at t=1s; last replayed commit 1.5 s ago.
    const lag = computeLagSeconds(
      { inRecovery: true, replayLsn: lsn("0/1800"), replayTimestampMs: 98_500, replicaNowMs: 100_000, probedAtMs: 3_010 },
      history,
    );
    expect(lag).to.equal(1.5);
    // The same but the last replayed commit is ancient: the position bound (3.01 - 1.0 s) wins.
    const lag2 = computeLagSeconds(
      { inRecovery: true, replayLsn: lsn("0/1800"), replayTimestampMs: 0, replicaNowMs: 100_000, probedAtMs: 3_010 },
      history,
    );
    expect(lag2).to.be.closeTo(2.01, 1e-9);
  });

  it("when replay is paused while the primary keeps writing heartbeats, then the lag grows with time", () => {
    const history = new PositionHistory();
    const lags: number[] = [];
    for (let s = 1; s <= 5; s++) {
      history.add({ atMs: s * 1000, lsn: BigInt(s * 100) });
      lags.push(
        computeLagSeconds({ inRecovery: true, replayLsn: 100n, replayTimestampMs: 1000, replicaNowMs: s * 1000 + 5, probedAtMs: s * 1000 + 5 }, history.all)!,
      );
    }
    expect(lags[0]).to.equal(0);
    for (let i = 1; i < lags.length; i++) expect(lags[i]).to.be.greaterThan(lags[i - 1]);
    expect(lags[4]).to.be.closeTo(4.005, 1e-9);
  });

  it("when the server is not in recovery or has replayed nothing, then the lag is unknown (null)", () => {
    expect(computeLagSeconds({ inRecovery: false, replayLsn: null, replayTimestampMs: null, replicaNowMs: 0, probedAtMs: 0 }, [])).to.equal(null);
    expect(computeLagSeconds({ inRecovery: true, replayLsn: 5n, replayTimestampMs: null, replicaNowMs: 0, probedAtMs: 0 }, [{ atMs: 0, lsn: 10n }])).to.equal(null);
  });

  it("keeps only the recent primary positions", () => {
    const h = new PositionHistory(10_000);
    for (let s = 0; s < 30; s++) h.add({ atMs: s * 1000, lsn: BigInt(s) });
    expect(h.all[0].atMs).to.equal(19_000);
    expect(h.all[h.all.length - 1].atMs).to.equal(29_000);
  });
});
