"""One new week's lake work alone, step by step: the plain functions the assets and checks call
(no Dagster), on a lake of --history weeks, each step timed in wall-clock and CPU seconds.

    .venv/bin/python bench/lake_week.py                      # 12-week lake, the 13th week lands
    .venv/bin/python bench/lake_week.py --history 104 --repeat 1

Each repeat builds the lake from scratch in a fresh child process (its first call of each
function pays nothing the real run would not: the assets run in one process too), lands the
next week and times that week's steps; the minimum over repeats is printed per step. Compare
two trees by running the same command with PYTHONPATH pointing at each. The machine is shared:
print and compare CPU seconds, and the load average printed next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(data: Path, work: Path, history: int) -> dict:
    from retail_assets.defs.features.assets import BASKETS_PER_CHUNK
    from retail_assets.defs.ingest.checks import landed_file_names_follow_contract, landed_files_readable, raw_rows_reconcile_with_landed_files
    from retail_assets.ingest.landing import ingested_versions, land_directory, landed_files
    from retail_assets.ingest.load import load_weeks
    from retail_assets.lake import invariants, tables
    from retail_assets.lake.transforms import gold_from_silver
    from retail_model.features.table import build_feature_table
    from retail_model.lake import LocalLake

    def plain(check):  # the check's own function, without Dagster's direct-invocation context
        return getattr(check, "op", None) and check.op.compute_fn.decorated_fn or check

    def new_weeks():  # what the landing sensor asks raw_transactions to load
        done = ingested_versions(lake)
        return [f for f in landed_files(lake) if f.week not in done]

    raw_checks = [plain(c) for c in (raw_rows_reconcile_with_landed_files, landed_files_readable, landed_file_names_follow_contract)]
    lake = LocalLake(work / "lake")
    steps = {
        "raw (parse, rules, 3 commits)": lambda: load_weeks(lake, new_weeks(), "bench"),
        "silver": lambda: tables.rebuild_silver(lake, [], complete=True),
        "gold": lambda: tables.rebuild_region_partitions(lake, tables.SILVER, tables.GOLD, gold_from_silver, [], True),
        "features": lambda: tables.rebuild_table(lake, tables.GOLD, tables.FEATURES, build_feature_table, rows_per_chunk=BASKETS_PER_CHUNK),
        "raw checks (3)": lambda: [check(lake=lake).passed for check in raw_checks],
        "silver check": lambda: [invariants.silver_keeps_every_raw_row(lake).passed],
        "gold checks (3)": lambda: [check(lake).passed for check in (
            invariants.gold_has_one_row_per_basket, invariants.gold_lines_add_up_to_silver, invariants.gold_attributes_agree)],
    }
    files = sorted(data.glob("transactions_*.csv"))
    landing = work / "landing"
    landing.mkdir(parents=True)
    for path in files[:history]:
        shutil.copy(path, landing / path.name)
    land_directory(landing, lake)
    for step in steps.values():
        step()
    shutil.copy(files[history], landing / files[history].name)
    land_directory(landing, lake)
    wall, cpu = {}, {}
    for name, step in steps.items():
        started, used = time.perf_counter(), time.process_time()
        outcome = step()
        wall[name], cpu[name] = time.perf_counter() - started, time.process_time() - used
        if "check" in name and not all(outcome):
            raise SystemExit(f"{name}: a check failed: {outcome}")
    return {"wall": wall, "cpu": cpu, "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", type=int, default=12)
    parser.add_argument("--baskets-per-week", type=int, default=4100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.data, args.child, args.history)))
        return
    from retail_assets.sample_data import generate_sample_data

    with tempfile.TemporaryDirectory(prefix="retail-lake-week-") as scratch:
        data = Path(scratch) / "data"
        generate_sample_data(data, weeks=args.history + 1, baskets_per_week=args.baskets_per_week, seed=7)
        runs = []
        for repeat in range(args.repeat):
            work = Path(scratch) / f"run{repeat}"
            command = [sys.executable, __file__, "--child", str(work), "--data", str(data), "--history", str(args.history)]
            runs.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1]))
    loads = ", ".join(f"{r['load']:.1f}" for r in runs)
    print(f"one new week on a lake of {args.history} weeks, lake work alone (min of {args.repeat}; load average {loads}):")
    for name in runs[0]["wall"]:
        wall, cpu = (min(r[kind][name] for r in runs) * 1000 for kind in ("wall", "cpu"))
        print(f"  {name:32s} {wall:6.0f} ms   cpu {cpu:6.0f} ms")
    wall, cpu = (sum(min(r[kind][name] for r in runs) for name in runs[0]["wall"]) * 1000 for kind in ("wall", "cpu"))
    print(f"  {'total':32s} {wall:6.0f} ms   cpu {cpu:6.0f} ms")

if __name__ == "__main__":
    main()
