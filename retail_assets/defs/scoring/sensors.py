import json

import dagster as dg

from retail_assets.defs.asset_keys import BASKET_PREDICTIONS, GOLD, RAW, RELEASE
from retail_assets.defs.partitions import shop_weeks, week_range_tags
from retail_assets.defs.runs import LAKE_JOB_EXECUTOR
from retail_assets.ingest.watch import contiguous_blocks
from retail_assets.lake.weeks import rewritten_among
from retail_assets.scoring.batch import GOLD_TABLE, weeks_since_training
from retail_model.lake import Lake
from retail_model.registry import ModelRegistry


# One step (basket_predictions with its two checks): a step process would only add its server's
# start to every run, so the run's own process scores the weeks.
score_weeks = dg.define_asset_job(
    "score_weeks", selection=[BASKET_PREDICTIONS], description="Score the weeks' gold baskets with the serving model.", executor_def=LAKE_JOB_EXECUTOR
)


@dg.sensor(job=score_weeks, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def basket_scoring_sensor(
    context: dg.SensorEvaluationContext, lake: dg.ResourceParam[Lake], model_registry: dg.ResourceParam[ModelRegistry]
) -> dg.SensorResult | dg.SkipReason:
    """Scores each new week once gold holds it; re-scores a scored week whose gold rows were rewritten
    (a re-delivered, corrected or removed week: no stale or orphan predictions); after each release,
    re-scores the weeks since the model's training data. One run per block of neighbouring weeks."""
    cursor = json.loads(context.cursor or "{}")
    latest = {name: _storage_id(context.instance, key) for name, key in (("gold", GOLD), ("release", RELEASE))}
    serving = model_registry.serving_entry()
    if serving is None:
        return dg.SkipReason("no model serves yet: nothing to score with")
    ordered = context.instance.get_dynamic_partitions(shop_weeks.name)
    ingested = context.instance.get_materialized_partitions(RAW)
    if context.cursor is None and _storage_id(context.instance, BASKET_PREDICTIONS) > max(latest.values()):
        # First look (a new deployment, a reset sensor) after the CLI or a run already scored every
        # week since the latest release and gold: start from here instead of scoring them again.
        first_cursor = json.dumps(latest | {"version": serving.version, "weeks": sorted(ingested), "gold_version": lake.table_version(GOLD_TABLE)})
        return dg.SensorResult(cursor=first_cursor, skip_reason="first look: the weeks were scored after the latest release and gold")
    # Weeks seen at the last look; the first look takes the history as known (a release scores the recent weeks).
    known = set(cursor.get("weeks", ingested))
    wanted: set[str] = set()
    reasons = []
    # Gold's table version as of the last look that read its commits: advanced only here, when this
    # look reads them, so a commit whose materialization is not stored yet is read at the next look.
    seen_gold = cursor.get("gold_version")
    if latest["release"] > cursor.get("release", 0) or serving.version != cursor.get("version"):
        since = {str(w) for w in weeks_since_training(lake, serving.version, [int(w) for w in ingested])}
        wanted |= since
        reasons.append(f"release of {serving.version}: {len(since)} week(s) since its training data")
    if latest["gold"] > cursor.get("gold", 0):  # gold holds the weeks raw had when it was rebuilt
        scored = context.instance.get_materialized_partitions(BASKET_PREDICTIONS)
        new = set(ingested) - known - scored
        gold_version = lake.table_version(GOLD_TABLE)  # read after `latest`: covers at least the commit of the materialization seen
        rewritten = rewritten_among(lake, GOLD_TABLE, scored, seen_gold, gold_version)
        seen_gold = gold_version
        wanted |= new | rewritten
        known |= set(ingested)
        reasons.append(f"gold rebuilt: {len(new)} new week(s), {len(rewritten)} scored week(s) rewritten")
    new_cursor = json.dumps(latest | {"version": serving.version, "weeks": sorted(known), "gold_version": seen_gold})
    blocks = contiguous_blocks(ordered, wanted)
    if not blocks:
        return dg.SensorResult(cursor=new_cursor, skip_reason="; ".join(reasons) or "no new week and no release since the last look")
    context.log.info("; ".join(reasons))
    requests = [
        dg.RunRequest(
            run_key=f"score-{serving.version}-{latest['gold']}-{latest['release']}-{block[0]}",
            tags={"retail/model_version": serving.version} | week_range_tags(block[0], block[-1]),
        )
        for block in blocks
    ]
    return dg.SensorResult(run_requests=requests, cursor=new_cursor)


def _storage_id(instance: dg.DagsterInstance, key: dg.AssetKey) -> int:
    records = instance.fetch_materializations(key, limit=1).records
    return records[0].storage_id if records else 0
