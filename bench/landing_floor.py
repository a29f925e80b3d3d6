"""What a single-week landing costs with no lake work at all: Dagster's own part, next to the real landing.

    .venv/bin/python bench/landing_floor.py                       # a 12-week lake, then 3 more weeks, one at a time
    .venv/bin/python bench/landing_floor.py --history 104 --rounds 3

Issue 17 asks for a single-week landing (the landing sensor's raw run, then the silver -> gold ->
features run) within 50x the week's parse floor. This script splits that budget in one process:

- **real**: `run_pipeline(..., through_model=False)` lands one more week, as `bench/ingest.py`'s
  one-new-week child does, on the SQLite instance the CLI writes (retail_assets/event_store.py).
- **hollow**: the same two runs of a graph of the same shape with no lake work: the same asset
  keys, partitions (one per week; every store_region x basket_type of the real instance),
  single-run backfills, check steps and blocking flags, on an instance of the same kind, whose
  steps return the metadata, check results and log lines the real runs just stored, without
  computing anything. What it costs is what Dagster alone spends on a week's two runs in this
  layout: creating and launching them, their steps, and storing their events. The script prints
  both runs' events by type and says whether they match (they should: same shape, same events).
- **floor**: the best of five `pl.read_csv` reads of the week's file.

`--strip` takes parts of the shape out of the hollow graph, to see what each costs (the events
then differ from the real runs', and the script says which): `metadata` (the steps return none),
`checks` (no check steps), `partitions` (silver and gold unpartitioned: one materialization each
instead of one per store_region x basket_type).

    .venv/bin/python bench/landing_floor.py --strip checks,partitions,metadata

Rounds alternate which of the two goes first after the first (the first hollow round needs the
real one's metadata, and runs once untimed before: a new instance's first runs set up its
databases, as building the history did for the real one). The machine is shared and noisy: read
the per-round ratios side by side.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import dagster as dg

HERE = Path(__file__).resolve().parent
STRIPPABLE = {"metadata", "checks", "partitions"}
sys.path.insert(0, str(HERE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", type=int, default=12, help="weeks in the lake before the measured ones")
    parser.add_argument("--rounds", type=int, default=3, help="weeks landed one at a time, each measured real and hollow")
    parser.add_argument("--baskets-per-week", type=int, default=4100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--strip", default="", help="parts of the shape the hollow graph leaves out: metadata, checks, partitions")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "retail-mlops")
    args = parser.parse_args()
    strip = {part for part in args.strip.split(",") if part}
    if strip - STRIPPABLE:
        parser.error(f"--strip takes {', '.join(sorted(STRIPPABLE))}, not {', '.join(sorted(strip - STRIPPABLE))}")

    from ingest import generate

    weeks = args.history + args.rounds
    data = args.cache / f"landing-floor-{weeks}x{args.baskets_per_week}-seed{args.seed}"
    if len(list(data.glob("transactions_*.csv"))) < weeks:
        shutil.rmtree(data, ignore_errors=True)
        generate(data, weeks, args.baskets_per_week, args.seed)
    with tempfile.TemporaryDirectory(prefix="landing-floor-") as work:
        measure(data, Path(work), args.history, args.rounds, strip)


def measure(data: Path, work: Path, history: int, rounds: int, strip: set[str]) -> None:
    from ingest import instance_yaml, land_history, parse_floor

    real_home, hollow_home = work / "real-home", work / "hollow-home"
    for home in (real_home, hollow_home):
        home.mkdir()
        (home / "dagster.yaml").write_text(instance_yaml("sqlite", None, home))
    os.environ["RETAIL_LAKE"] = str(work / "lake")

    from rich.console import Console
    from rich.progress import Progress

    from retail_assets.event_volume import write_fewer_events
    from retail_assets.pipeline import run_pipeline

    write_fewer_events()  # what run_pipeline sets for its runs: the hollow runs get the same
    real = dg.DagsterInstance.from_config(str(real_home))
    hollow = dg.DagsterInstance.from_config(str(hollow_home))
    quiet = Progress(console=Console(quiet=True))
    files, landing = land_history(data, work, history)
    started = time.perf_counter()
    run_pipeline(landing, real, quiet, through_model=False)
    print(f"lake of {history} weeks built in {time.perf_counter() - started:.1f} s; landing {rounds} more, one at a time")

    template = None
    results = []
    for round_index in range(rounds):
        path = files[history + round_index]
        week = path.stem.removeprefix("transactions_")
        shutil.copy(path, landing / path.name)

        def real_landing():
            before = {run.run_id for run in real.get_runs()}
            begun = time.perf_counter()
            run_pipeline(landing, real, quiet, through_model=False)
            seconds = time.perf_counter() - begun
            return seconds, [run for run in real.get_runs() if run.run_id not in before]

        def hollow_landing():
            _copy_partitions(real, hollow, week)
            before = {run.run_id for run in hollow.get_runs()}
            job = hollow_definitions(template, strip).resolve_implicit_global_asset_job_def()  # built before timing, as run_pipeline's is cached
            begun = time.perf_counter()
            hollow_runs(job, hollow, week, partitioned="partitions" not in strip)
            seconds = time.perf_counter() - begun
            return seconds, [run for run in hollow.get_runs() if run.run_id not in before]

        if template is None or round_index % 2 == 0:
            real_seconds, real_runs = real_landing()
            template = Template.of(real, real_runs)
            if round_index == 0:
                hollow_landing()  # untimed: a new instance's first runs set up its databases, as building the history did for the real one
            hollow_seconds, hollow_run_list = hollow_landing()
        else:
            hollow_seconds, hollow_run_list = hollow_landing()
            real_seconds, real_runs = real_landing()
            template = Template.of(real, real_runs)
        floor, week_rows = parse_floor(path)
        real_events, hollow_events = _event_types(real, real_runs), _event_types(hollow, hollow_run_list)
        results.append((real_seconds, hollow_seconds, floor))
        print(f"round {round_index + 1} (week {week}, {week_rows:,} rows, parse floor {floor * 1000:.0f} ms, "
              f"load {os.getloadavg()[0]:.1f}): real landing {real_seconds:.2f} s = {real_seconds / floor:.0f}x; "
              f"no lake work {hollow_seconds:.2f} s = {hollow_seconds / floor:.0f}x "
              f"({sum(real_events.values())} and {sum(hollow_events.values())} events, "
              f"{_compare(real_events, hollow_events)})")

    real_median = statistics.median(r for r, _, _ in results)
    hollow_median = statistics.median(h for _, h, _ in results)
    floor_median = statistics.median(f for _, _, f in results)
    print(f"median of {rounds}: real landing {real_median:.2f} s = {real_median / floor_median:.0f}x the parse floor "
          f"({floor_median * 1000:.0f} ms; target <= 50x = {50 * floor_median:.2f} s); the same runs with no lake work "
          f"{hollow_median:.2f} s = {hollow_median / floor_median:.0f}x, {hollow_median / (50 * floor_median):.0%} of the 50x budget; "
          f"median of the rounds' hollow / real: {statistics.median(h / r for r, h, _ in results):.2f}")


class Template:
    """What the real runs of a landing stored, per asset, check and step, for the hollow runs to return."""

    def __init__(self) -> None:
        self.metadata: dict = {}  # asset key -> the first materialization's metadata
        self.checks: dict = {}  # check key -> (passed, metadata)
        self.logs: dict[str, list[str]] = {}  # step key -> messages logged by the step

    @classmethod
    def of(cls, instance, runs) -> "Template":
        template = cls()
        for run in runs:
            for entry in instance.all_logs(run.run_id):
                event = entry.dagster_event
                if event is None:
                    if entry.step_key:
                        template.logs.setdefault(entry.step_key, []).append(entry.user_message)
                elif event.event_type_value == "ASSET_MATERIALIZATION":
                    template.metadata.setdefault(event.asset_key, dict(event.step_materialization_data.materialization.metadata))
                elif event.event_type_value == "ASSET_CHECK_EVALUATION":
                    data = event.asset_check_evaluation_data
                    template.checks[data.asset_check_key] = (data.passed, dict(data.metadata))
        return template


def hollow_runs(job, instance, week: str, partitioned: bool) -> None:
    """The two runs of a landing (the week's raw run, then silver -> gold -> features over every
    store_region x basket_type) on the hollow graph, as run_pipeline requests them."""
    from retail_assets.defs.asset_keys import RAW
    from retail_assets.defs.partitions import every_region_and_basket_type, week_range_tags
    from retail_assets.pipeline import LAKE, QUIET

    for selection, tags in (([RAW], week_range_tags(week, week)), (LAKE, every_region_and_basket_type(instance) if partitioned else {})):
        result = job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=False, asset_selection=selection, tags=tags)
        if not result.success:
            raise SystemExit(f"a hollow run failed: {[e.message for e in result.all_events if e.is_failure]}")


def hollow_definitions(template: Template, strip: set[str]):
    """The real definitions' lake assets and their checks, rebuilt with bodies that return what the
    real runs stored: same keys, partitions, dependencies, backfill policy, check specs and steps."""
    from retail_assets.definitions import defs
    from retail_assets.defs.asset_keys import LAKE_REBUILD, RAW

    warnings.simplefilter("ignore", dg.BetaWarning)  # the assets' BackfillPolicy, as retail_assets/definitions.py has it
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    wanted = [RAW, *LAKE_REBUILD]
    assets, checks = [], []
    for key in wanted:
        node = graph.get(key)
        assets.append(dg.asset(
            key=key, partitions_def=None if "partitions" in strip and key != RAW else node.partitions_def,
            deps=[dg.AssetDep(dep.asset_key, partition_mapping=dep.partition_mapping) for dep in node.assets_def.specs_by_key[key].deps],
            backfill_policy=node.backfill_policy,
        )(_replaying(template, key, "metadata" not in strip)))
    for checks_def in definitions.asset_checks or []:
        specs = [spec for spec in checks_def.check_specs if spec.asset_key in wanted]
        if not specs or "checks" in strip:
            continue

        def check_body(context: dg.AssetCheckExecutionContext, lake: dg.ResourceParam[object]):
            for check_key in context.selected_asset_check_keys:
                passed, metadata = template.checks[check_key]
                yield dg.AssetCheckResult(asset_key=check_key.asset_key, check_name=check_key.name, passed=passed, metadata=metadata)

        checks.append(dg.multi_asset_check(
            name=checks_def.node_def.name,
            specs=[dg.AssetCheckSpec(s.name, asset=s.asset_key, blocking=s.blocking) for s in specs], can_subset=True,
        )(check_body))
    return dg.Definitions(assets=assets, asset_checks=checks, resources={"lake": object()})


def _replaying(template: Template, key, with_metadata: bool):
    def body(context: dg.AssetExecutionContext, lake: dg.ResourceParam[object]) -> dg.MaterializeResult:
        for message in template.logs.get(context.op_execution_context.op_handle.name, []):
            context.log.info(message)
        return dg.MaterializeResult(metadata=template.metadata[key] if with_metadata else None)

    return body


def _copy_partitions(source, target, week: str) -> None:
    """The hollow instance holds the same weeks and store regions as the real one, and `week`
    (added as the real landing adds it: before its runs)."""
    from retail_assets.defs.partitions import shop_weeks, store_regions

    for partitions in (shop_weeks, store_regions):
        keys = source.get_dynamic_partitions(partitions.name) + ([week] if partitions is shop_weeks else [])
        missing = [key for key in dict.fromkeys(keys) if not target.has_dynamic_partition(partitions.name, key)]
        if missing:
            target.add_dynamic_partitions(partitions.name, missing)


def _event_types(instance, runs) -> Counter:
    return Counter(entry.dagster_event.event_type_value if entry.dagster_event else "log message"
                   for run in runs for entry in instance.all_logs(run.run_id))


def _compare(real: Counter, hollow: Counter) -> str:
    if real == hollow:
        return "the same types and counts"
    return f"not the same: only the real runs had {dict(real - hollow)}" + (f", only the hollow ones {dict(hollow - real)}" if hollow - real else "")


if __name__ == "__main__":
    main()
