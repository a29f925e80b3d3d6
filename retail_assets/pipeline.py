"""Materialize the whole graph in order, in-process, on the instance the Dagster UI reads.

The differently partitioned assets cannot share a run (docs/architecture.md, "Dagster facts"), so this is four kinds
of run: one for every pending week of raw (one per block of neighbouring weeks), one single run
covering every silver/gold partition and the feature table (unpartitioned, so it can ride along:
one run fewer per landing), one for the chain from the model to release (with its blocking
checks), and one measuring the monitoring assets against what now serves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from rich.progress import Progress

from retail_assets.definitions import defs
from retail_assets.defs.asset_keys import (
    BASKET_PREDICTIONS,
    FEATURE_DRIFT,
    LAKE_REBUILD,
    LIVE_ACCURACY,
    MODEL,
    RAW,
    REGISTERED,
    RELEASE,
)
from retail_assets.defs.partitions import every_region_and_basket_type, shop_weeks, week_range_tags
from retail_assets.event_volume import write_fewer_events
from retail_assets.ingest.landing import (
    REJECTED,
    ingested_versions,
    land_directory,
    landed_files,
    misnamed_files,
    reject_misnamed,
    still_rejected,
)
from retail_assets.ingest.watch import contiguous_blocks, pending_files
from retail_assets.lake.weeks import rewritten_among
from retail_assets.scoring.batch import GOLD_TABLE, weeks_since_training
from retail_assets.settings import get_environment
from retail_model.artifact import METRICS_FILE_NAME, model_key
from retail_model.lake import open_lake
from retail_model.registry import open_registry

LAKE = list(LAKE_REBUILD)  # rebuild_lake's selection: what a landing changes, up to the features
MODEL_CHAIN = [MODEL, REGISTERED, RELEASE]
# Measured once right after a release so the UI shows every asset from the first run; before the
# API has answered anything they record "not judged" (their daily schedule measures them later).
MONITORING = [FEATURE_DRIFT, LIVE_ACCURACY]

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


class PipelineError(Exception):
    """A step of the pipeline failed; the message names the step and where to look."""


@dataclass
class PipelineSummary:
    lake: str
    rejected: str
    weeks_ingested: list[str] = field(default_factory=list)
    weeks_unchanged: list[str] = field(default_factory=list)
    weeks_rejected: list[str] = field(default_factory=list)  # by this run, or earlier and not re-delivered since
    files_misnamed: list[str] = field(default_factory=list)  # why each was not ingested
    model_version: str | None = None  # the version this run registered
    model_status: str | None = None
    serving_version: str | None = None
    metrics: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each stage

    def lines(self) -> list[str]:
        out = [f"lake: {self.lake}"]
        out.append(f"weeks ingested: {len(self.weeks_ingested)}, unchanged: {len(self.weeks_unchanged)}")
        for reason in self.files_misnamed:
            out.append(f"[yellow]{reason} (see {self.rejected})[/yellow]")
        if self.weeks_rejected:
            out.append(f"[yellow]weeks rejected: {', '.join(self.weeks_rejected)} (see {self.rejected})[/yellow]")
        if self.model_version:
            m = self.metrics
            scores = (
                f"test macro-F1 {m['macro_f1']:.3f}, accuracy {m['accuracy']:.3f} "
                f"({m['n_train']:,} train / {m['n_test']:,} test baskets)"
            )
            if self.serving_version == self.model_version:
                out.append(f"model {self.model_version} released: {scores}")
            else:  # waiting for a person (RETAIL_AUTO_APPROVE=false): say what serves and what to do
                out.append(
                    f"[yellow]model {self.model_version} is {self.model_status}, not released: {scores}; serving: "
                    f"{self.serving_version or 'nothing'}. Approve it with `retail-mlops models approve "
                    f"{self.model_version} --reason ...` (docs/models.md)[/yellow]"
                )
        return out


def run_pipeline(
    landing: Path | None, instance: dg.DagsterInstance, progress: Progress, through_model: bool = True
) -> PipelineSummary:
    """Land `landing`'s files, then materialize the graph in order; `through_model=False` stops
    after the feature table (the data half, as bench/ingest.py measures it)."""
    write_fewer_events()  # before any run is created: the planned events are written then
    settings = get_environment()
    lake = open_lake(settings.lake, settings.aws)
    if landing is not None:
        land_directory(landing, lake)
    misnamed = misnamed_files(lake)
    reject_misnamed(lake, misnamed)
    landed = landed_files(lake)
    if not landed:
        raise PipelineError(
            f"no transactions_YYYYWW.csv files in {lake.uri_of('landing')}; pass --landing DIR or run `retail-mlops sample-data` first"
        )
    job = defs().resolve_implicit_global_asset_job_def()
    summary = PipelineSummary(lake=lake.uri, rejected=lake.uri_of(REJECTED), files_misnamed=[f.reason for f in misnamed])

    versions = {f.week: f.fingerprint for f in pending_files(lake)}
    pending = set(versions)
    summary.weeks_unchanged = [f.week for f in landed if f.week not in pending]
    new_weeks = [w for w in sorted(pending) if not instance.has_dynamic_partition(shop_weeks.name, w)]
    if new_weeks:
        instance.add_dynamic_partitions(shop_weeks.name, new_weeks)
    started = time.perf_counter()
    with progress:
        # Every pending week in one run (one per block of neighbouring weeks), not one run a week.
        blocks = contiguous_blocks(instance.get_dynamic_partitions(shop_weeks.name), pending)
        task = progress.add_task(f"raw_transactions ({len(pending)} weeks, {len(blocks)} run(s))", total=len(blocks) or 1)
        failed_runs = []
        for block in blocks:
            result = _execute(job, instance, asset_selection=[RAW], tags=week_range_tags(block[0], block[-1]))
            if not result.success:
                failed_runs.append(result)
            progress.advance(task)
        if not pending:
            progress.update(task, completed=1, description="raw_transactions (nothing new)")
        outcome = ingested_versions(lake)
        for week in sorted(pending):
            logged = outcome.get(week) or {}
            if logged.get("fingerprint") != versions[week]:
                continue  # this run left no word about this version of the file
            (summary.weeks_ingested if logged["status"] == "ingested" else summary.weeks_rejected).append(week)
        unaccounted = sorted(pending - set(summary.weeks_ingested) - set(summary.weeks_rejected))
        if unaccounted:  # neither ingested nor set aside: the run itself broke (a bug, the lake unreachable)
            raise PipelineError(
                f"raw_transactions failed for week(s) {', '.join(unaccounted)} "
                f"(run {', '.join(r.run_id for r in failed_runs) or '?'}; open it in the Dagster UI):\n"
                + "\n".join(_failure_messages(failed_runs))
            )
        # A week rejected by an earlier run and not re-delivered since is still missing from the lake.
        summary.weeks_rejected = sorted(set(summary.weeks_rejected) | set(still_rejected(lake)))
        summary.seconds["raw"] = round(time.perf_counter() - started, 2)

        stage = "silver_transactions + gold_baskets + basket_features"
        task = progress.add_task(stage, total=1)
        tags = every_region_and_basket_type(instance)
        if not tags:
            raise PipelineError("no week could be ingested, so there is nothing to build; see landing/rejected/")
        started = time.perf_counter()
        gold_before = lake.table_version(GOLD_TABLE)
        _run(job, instance, LAKE, tags, stage)
        summary.seconds["silver+gold+features"] = round(time.perf_counter() - started, 2)
        progress.advance(task)
        if not through_model:
            return summary
        # Scored weeks whose gold this run replaced: their predictions are of baskets they no longer have.
        rewritten = rewritten_among(lake, GOLD_TABLE, instance.get_materialized_partitions(BASKET_PREDICTIONS), gold_before, lake.table_version(GOLD_TABLE))

        task = progress.add_task("model -> registry -> release", total=1)
        started = time.perf_counter()
        try:
            _run(job, instance, MODEL_CHAIN, {}, "model -> registry -> release")
        except PipelineError as chain_failed:
            # The model serving before still serves: it scores the rewritten weeks again, as the
            # basket_scoring_sensor does whatever training does, and then the failure is reported.
            try:
                _score(job, instance, rewritten)
            except PipelineError as scoring_failed:
                raise PipelineError(f"{chain_failed}\nThen scoring the rewritten weeks with the serving model failed too: {scoring_failed}") from scoring_failed
            raise
        summary.seconds["model..release"] = round(time.perf_counter() - started, 2)
        progress.advance(task)

        task = progress.add_task("basket_predictions (the weeks since the model's training data, and rewritten ones)", total=1)
        started = time.perf_counter()
        _score(job, instance, _weeks_to_score(lake, settings, instance) | rewritten)
        summary.seconds["basket_predictions"] = round(time.perf_counter() - started, 2)
        progress.advance(task)

        task = progress.add_task("feature_drift + live_accuracy", total=1)
        started = time.perf_counter()
        _run(job, instance, MONITORING, {}, "feature_drift + live_accuracy")
        summary.seconds["monitoring"] = round(time.perf_counter() - started, 2)
        progress.advance(task)

    registry = open_registry(settings, lake)
    registered, serving = registry.list_versions()[-1], registry.serving_entry()  # the chain just registered the newest
    summary.model_version, summary.model_status = registered.version, registered.status
    summary.serving_version = serving.version if serving else None
    summary.metrics = lake.read_json(model_key(registered.version, METRICS_FILE_NAME)) or {}
    return summary


def _score(job: dg.JobDefinition, instance: dg.DagsterInstance, weeks: set[str]) -> None:
    """basket_predictions for `weeks` by the serving model, one run per block of neighbouring weeks."""
    for block in contiguous_blocks(instance.get_dynamic_partitions(shop_weeks.name), weeks):
        _run(job, instance, [BASKET_PREDICTIONS], week_range_tags(block[0], block[-1]), "basket_predictions")


def _weeks_to_score(lake, settings, instance: dg.DagsterInstance) -> set[str]:
    """What a release re-scores (the basket_scoring_sensor's rule): ingested weeks after the serving model's training weeks."""
    serving = open_registry(settings, lake).serving_entry()
    if serving is None:
        return set()
    ingested = instance.get_materialized_partitions(RAW)
    return {str(w) for w in weeks_since_training(lake, serving.version, [int(w) for w in ingested])}


def _execute(job: dg.JobDefinition, instance: dg.DagsterInstance, **kwargs) -> dg.ExecuteInProcessResult:
    """One in-process run; its full log lives in the Dagster UI, the console only shows errors."""
    return job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=False, **kwargs)


def _failure_messages(results: list[dg.ExecuteInProcessResult]) -> list[str]:
    return [event.message for result in results for event in result.all_events if event.is_failure and event.message][-3:]


def _run(job: dg.JobDefinition, instance: dg.DagsterInstance, keys: list[dg.AssetKey], tags: dict, step: str) -> None:
    result = _execute(job, instance, asset_selection=keys, tags=tags)
    if result.success:
        return
    failures = [event.message for event in result.all_events if event.is_failure and event.message]
    checks = [
        f"{e.asset_check_evaluation_data.asset_check_key.name} failed"
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.asset_check_evaluation_data.passed
    ]
    detail = "\n".join(checks + failures[-3:])
    raise PipelineError(f"{step} failed (run {result.run_id}; open it in the Dagster UI):\n{detail}")
