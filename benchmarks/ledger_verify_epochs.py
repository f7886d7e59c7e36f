"""What the epoch's record costs ``ledger verify``: time per recorded epoch, on SQLite.

    python benchmarks/ledger_verify_epochs.py --epochs 10 100 --markets 2 16 --repeat 5

Builds a fresh SQLite ledger (migrated to head) of E epochs, each opened in portfolio mode with a
risk record of M arrays of 16 scenarios and closed with a funding rate per market, journaled as
the service journals them (``verifier.services.epoch_records``; no proofs, no oracles). Timed:
``verify_ledger`` over the whole ledger (the chain, then every epoch's documents rebuilt from its
rows), and ``check_epoch_records`` alone; the median of ``--repeat`` runs, in a read snapshot.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from verifier.db import records
from verifier.db.engine import Database
from verifier.db.epoch_records import check_epoch_records
from verifier.db.ledger import verify_ledger
from verifier.db.migrate import upgrade_database
from verifier.db.models import EpochRiskRecord, Market, SnapshotPhase
from verifier.oracle import PriceSnapshot
from verifier.services import epoch_records, prices

SCENARIOS = 16
NOW = 1_800_000_000


def _snapshot(epoch_id: int, markets: int, base: int) -> PriceSnapshot:
    return PriceSnapshot(epoch_id, NOW + epoch_id, tuple(base + m for m in range(markets)),
                         tuple((bytes([m % 255 + 1]) * 32,) for m in range(markets)))


def _risk(epoch_id: int, markets: int) -> dict:
    """A risk record of the service's shape and size (the numbers are not a model's)."""
    return {"epoch": epoch_id, "valued_at": NOW, "parameters": {"price_steps": 3}, "curve": "bls12381",
            "markets": [{"market": m, "price": 60_000 + m, "vol": 600_000, "rate": 0} for m in range(markets)],
            "arrays": [{"instrument": {"kind": "future", "market": m, "perpetual": True}, "mark": 60_000 + m,
                        "short_charge": 0, "pnl": [(s - 8) * 1_000 * (m + 1) for s in range(SCENARIOS)]}
                       for m in range(markets)],
            "digest": str(10**70 + epoch_id)}


def _build(database: Database, epochs: int, markets: int) -> None:
    with database.unit_of_work() as session:
        for m in range(markets):
            session.add(Market(id=m, name=f"M{m}", price_scale=1, maintenance_rate=50_000, initial_rate=100_000))
    for epoch_id in range(1, epochs + 1):
        with database.unit_of_work() as session:
            epoch = records.open_epoch(session, epoch_id)
            prices.store_snapshot(session, epoch_id, SnapshotPhase.MARK, _snapshot(epoch_id, markets, 60_000))
            risk = _risk(epoch_id, markets)
            session.add(EpochRiskRecord(epoch_id=epoch_id, digest=risk["digest"], document=json.dumps(risk)))
            session.flush()
            epoch_records.record_epoch(session, epoch, "open")
        with database.unit_of_work() as session:
            epoch = records.close_epoch(session, epoch_id, [61_000 + m for m in range(markets)])
            for row in epoch.prices:
                row.funding_rate = 100
            prices.store_snapshot(session, epoch_id, SnapshotPhase.SETTLEMENT, _snapshot(epoch_id, markets, 61_000))
            session.flush()
            epoch_records.record_close(session, epoch)


def _median_seconds(database: Database, check, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        with database.reader() as session:
            start = time.perf_counter()
            check(session)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--markets", type=int, nargs="+", default=[2, 16])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("| epochs | M | journal entries | ledger verify, median | epoch records alone | per epoch |")
    print("|---|---|---|---|---|---|")
    for markets in args.markets:
        for epochs in args.epochs:
            with tempfile.TemporaryDirectory() as folder:
                url = f"sqlite:///{Path(folder) / 'ledger.sqlite3'}"
                upgrade_database(url)
                database = Database.connect(url)
                try:
                    _build(database, epochs, markets)
                    with database.reader() as session:
                        report = verify_ledger(session)
                    assert report.ok and report.epochs_recorded == epochs, report.verdict()
                    whole = _median_seconds(database, verify_ledger, args.repeat)
                    alone = _median_seconds(database, check_epoch_records, args.repeat)
                finally:
                    database.dispose()
            print(f"| {epochs} | {markets} | {report.entries_checked} | {whole * 1000:.0f} ms | {alone * 1000:.0f} ms "
                  f"| {alone / epochs * 1000:.2f} ms |")


if __name__ == "__main__":
    main()
