"""Runs as the daemon and the UI launch them: the lake's steps as processes, how long each waits
before its step begins, and the sensors' lake job in one process.

    .venv/bin/python bench/step_workers.py                 # 4 rounds on a 6-week lake
    .venv/bin/python bench/step_workers.py --rounds 2 --weeks 4

`retail-mlops materialize` runs its steps in one process. Runs launched from the UI (Materialize)
use the code location's executor: each step is a process forked from a server that preloaded
`step_preload_modules()` (retail_assets/definitions.py). The sensors' and the schedule's lake jobs
(ingest_week, rebuild_lake) run in one process (`LAKE_JOB_EXECUTOR`, retail_assets/defs/runs.py).
This builds a small lake with `materialize`, then, in fresh child processes and in turn each round,
materializes silver, gold and the features through `dagster.execute_job` (what a run worker does):
- base:      Materialize, the server preloading what it did before INSTANCE_MODULES;
- current:   Materialize, the server preloading `step_preload_modules()`;
- lake job:  `rebuild_lake` (the same assets and checks) as the sensors launch it now.
From each run's event log: first step (STEP_WORKER_STARTING -> STEP_START of the first step; it
also starts the server), forked step (the same for each later step, median over the run), run
(PIPELINE_START -> PIPELINE_SUCCESS). The machine is shared and noisy: compare the ratios, which
come from runs made back to back.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(variant: str) -> dict:
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository

    import retail_assets.definitions as definitions
    from retail_assets.defs.asset_keys import LAKE_REBUILD
    from retail_assets.defs.partitions import every_region_and_basket_type

    if variant == "base":
        definitions.INSTANCE_MODULES = ()  # read when the executor is built, in this process: the run worker
    instance = dg.DagsterInstance.get()
    repository = ReconstructableRepository.for_module(definitions.__name__, "defs", working_directory=str(HERE.parent))
    tags = every_region_and_basket_type(instance)
    if variant == "lake_job":
        result = dg.execute_job(ReconstructableJob(repository, "rebuild_lake"), instance, tags=tags)
    else:
        result = dg.execute_job(ReconstructableJob(repository, "__ASSET_JOB"), instance, tags=tags, asset_selection=list(LAKE_REBUILD))
    if not result.success:
        raise SystemExit(f"{variant} failed: run {result.run_id}")
    starting, waits, times = {}, [], {}
    for entry in instance.all_logs(result.run_id):
        kind = entry.dagster_event_type.value if entry.dagster_event_type else ""
        if kind == "STEP_WORKER_STARTING":
            starting[entry.step_key] = entry.timestamp
        elif kind == "STEP_START" and entry.step_key in starting:
            waits.append(entry.timestamp - starting[entry.step_key])
        elif kind in ("PIPELINE_START", "PIPELINE_SUCCESS"):
            times[kind] = entry.timestamp
    return {
        "first": waits[0] if waits else 0.0, "forked": statistics.median(waits[1:]) if len(waits) > 1 else 0.0,
        "processes": len(waits), "run": times["PIPELINE_SUCCESS"] - times["PIPELINE_START"],
    }


def build_lake(work: Path, weeks: int, baskets: int, env: dict) -> None:
    cli = [str(Path(sys.executable).parent / "retail-mlops")]
    subprocess.run([*cli, "sample-data", "--out", str(work / "sample"), "--weeks", str(weeks), "--baskets-per-week", str(baskets)], env=env, check=True, capture_output=True)
    subprocess.run([*cli, "materialize", "--landing", str(work / "sample")], env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--weeks", type=int, default=6)
    parser.add_argument("--baskets-per-week", type=int, default=1000)
    parser.add_argument("--child", choices=["base", "current", "lake_job"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    with tempfile.TemporaryDirectory(prefix="retail-step-workers-") as tmp:
        work = Path(tmp)
        (work / "home").mkdir()
        env = {**os.environ, "RETAIL_LAKE": str(work / "lake"), "DAGSTER_HOME": str(work / "home"), "PYTHONPATH": str(HERE.parent)}
        started = time.perf_counter()
        build_lake(work, args.weeks, args.baskets_per_week, env)
        print(f"lake: {args.weeks} weeks x {args.baskets_per_week} baskets, built by materialize in {time.perf_counter() - started:.1f} s")
        variants = ("base", "current", "lake_job")
        results: dict[str, list[dict]] = {variant: [] for variant in variants}
        for round_ in range(args.rounds):
            for variant in variants[round_ % 3:] + variants[:round_ % 3]:
                out = subprocess.run([sys.executable, __file__, "--child", variant], env=env, check=True, capture_output=True, text=True)
                results[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"silver, gold and features (with their checks) in one run, {args.rounds} rounds, load average {os.getloadavg()[0]:.1f}; medians in seconds:")
        print(f"  {'':14}{'step processes':>15}{'first step':>12}{'forked step':>13}{'run':>8}")
        medians = {v: {k: statistics.median(r[k] for r in rs) for k in ("processes", "first", "forked", "run")} for v, rs in results.items()}
        for variant, values in medians.items():
            print(f"  {variant:14}{values['processes']:15.0f}{values['first']:12.2f}{values['forked']:13.2f}{values['run']:8.2f}")
        print(f"  current/base: forked step {medians['current']['forked'] / medians['base']['forked']:.2f}x, run {medians['current']['run'] / medians['base']['run']:.2f}x")
        print(f"  lake job/current: run {medians['lake_job']['run'] / medians['current']['run']:.2f}x")

if __name__ == "__main__":
    main()
