"""The promotion gate nothing bypasses, manual approval and rollback: the model chain materialized
for real (train -> register -> release) on a copy of the session pipeline's lake.

Training here uses a quick search (complement naive Bayes, one setting) so each run takes seconds.
"""

from __future__ import annotations

import shutil

import dagster as dg
import numpy as np
import pytest
from sklearn.metrics import f1_score

from retail_assets.defs.asset_keys import MODEL, REGISTERED, RELEASE
from retail_training.job import read_channel
from retail_model.lake import LocalLake
from retail_model.registry import APPROVED, PENDING, REJECTED, LakeModelRegistry

CHAIN = [MODEL, REGISTERED, RELEASE]
QUICK = {"ops": {"price_sensitivity_model": {"config": {"hyperparameters": {"candidates": "complement_nb", "search_size": "1"}}}}}
WEAK = {"ops": {"price_sensitivity_model": {"config": {"hyperparameters": {"candidates": "baseline"}}}}}


@pytest.fixture(scope="module")
def serving_lake(pipeline_run, tmp_path_factory):
    """The pipeline's gold and feature tables, and one model trained, approved and released on them."""
    root = tmp_path_factory.mktemp("promotion") / "lake"
    for table in ("gold", "features"):
        shutil.copytree(pipeline_run.lake / table, root / table)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RETAIL_LAKE", str(root))
        result = materialize(CHAIN, dg.DagsterInstance.ephemeral(), QUICK)
    assert result.success
    return root


@pytest.fixture
def lake(serving_lake, tmp_path, monkeypatch):
    copy = tmp_path / "lake"
    shutil.copytree(serving_lake, copy)
    for entry in (copy / "registry").rglob("*.json"):  # artefact addresses are absolute: the lake moved
        entry.write_text(entry.read_text().replace(str(serving_lake), str(copy)))
    monkeypatch.setenv("RETAIL_LAKE", str(copy))
    for name in ("RETAIL_MIN_MACRO_F1", "RETAIL_AUTO_APPROVE", "RETAIL_MIN_ACCURACY", "RETAIL_MIN_CLASS_PRECISION"):
        monkeypatch.delenv(name, raising=False)
    return LocalLake(copy)


def materialize(selection, instance, run_config=None, tags=None) -> dg.ExecuteInProcessResult:
    """A run of the code location as it loads from the environment now (settings read at load)."""
    from retail_assets.definitions import defs

    job = defs().resolve_implicit_global_asset_job_def()
    return job.execute_in_process(asset_selection=selection, instance=instance, run_config=run_config or {}, tags=tags, raise_on_error=False)


def materialized(result, key) -> list:
    return [e.event_specific_data.materialization for e in result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION" and e.event_specific_data.materialization.asset_key == key]


def step_failure(result, step: str) -> str:
    return next(e.step_failure_data.error.message for e in result.all_events if e.event_type_value == "STEP_FAILURE" and e.step_key == step)


def check_passed(result, name) -> bool:
    return next(e.asset_check_evaluation_data.passed for e in result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.asset_check_evaluation_data.asset_check_key.name == name)


def test_the_bypass_from_the_issue_is_refused(lake, monkeypatch):
    """RETAIL_MIN_MACRO_F1=0.999: the chain fails, then registered_model + api_release alone are materialized."""
    registry = LakeModelRegistry(lake)
    serving = registry.released().version
    monkeypatch.setenv("RETAIL_MIN_MACRO_F1", "0.999")
    instance = dg.DagsterInstance.ephemeral()

    chain = materialize(CHAIN, instance, QUICK)
    assert not chain.success and not check_passed(chain, "model_passed_promotion_gate")
    assert materialized(chain, RELEASE) == []
    failed = materialized(chain, MODEL)[0].metadata["model_version"].value
    entry = registry.get(failed)
    assert entry.status == REJECTED and "< 0.999" in entry.history[0]["reason"]

    bypass = materialize([REGISTERED, RELEASE], instance)
    assert not bypass.success and not check_passed(bypass, "model_passed_promotion_gate")
    assert materialized(bypass, REGISTERED)[0].metadata["model_version"].value == failed
    assert materialized(bypass, RELEASE) == []
    assert registry.get(failed).history == entry.history  # never re-judged, never overwritten

    release_alone = materialize([RELEASE], instance)
    assert not release_alone.success
    assert f"model {failed} is Rejected, not Approved" in step_failure(release_alone, "api_release")
    assert registry.released().version == registry.serving_entry().version == serving


def test_a_weakened_model_is_rejected_by_the_floors_and_the_serving_champion(lake):
    registry = LakeModelRegistry(lake)
    champion = registry.serving_entry()
    result = materialize(CHAIN, dg.DagsterInstance.ephemeral(), WEAK)  # always answers the most frequent class
    assert not result.success
    weak = materialized(result, MODEL)[0].metadata["model_version"].value
    assert registry.get(weak).status == REJECTED
    gate = lake.read_json(f"models/{weak}/gate.json")
    failing = {c["name"] for c in gate["criteria"] if not c["passed"]}
    assert {"macro_f1", "precision_High", "precision_Low", "champion_challenger"} <= failing
    assert "## Promotion gate" in lake.read_bytes(f"models/{weak}/model_card.md").decode()

    # The champion was scored on the challenger's own test weeks: recompute that independently.
    with lake.local_directory(f"training/jobs/{weak}/input/data/test") as directory:
        test = read_channel("test", directory)
    predicted = [p.code for p in registry.load_model(champion).predict_dicts(test.features())]
    champion_f1 = f1_score(test.codes(), np.array(predicted), labels=["LA", "MM", "UM"], average="macro")
    criterion = next(c for c in gate["criteria"] if c["name"] == "champion_challenger")
    assert criterion["threshold"] == pytest.approx(champion_f1 - 0.01)
    assert registry.released().version == registry.serving_entry().version == champion.version


def test_manual_approval_is_released_by_the_sensor_and_a_rejection_rolls_back(lake, monkeypatch):
    from retail_assets.definitions import defs
    from retail_assets.defs.release.sensors import model_approval_sensor

    registry = LakeModelRegistry(lake)
    first = registry.released().version
    monkeypatch.setenv("RETAIL_AUTO_APPROVE", "false")
    instance = dg.DagsterInstance.ephemeral()
    chain = materialize(CHAIN, instance, QUICK)
    assert chain.success and check_passed(chain, "model_passed_promotion_gate")
    assert materialized(chain, RELEASE) == []  # waiting for a person: nothing released, no failure
    pending = materialized(chain, REGISTERED)[0].metadata["model_version"].value
    assert registry.get(pending).status == PENDING and registry.released().version == first

    def sensor_says():
        context = dg.build_sensor_context(instance=instance, resources={"model_registry": registry})
        return model_approval_sensor(context)

    assert isinstance(sensor_says(), dg.SkipReason)
    registry.decide(pending, APPROVED, "looked at the anonymous baskets", "ana")
    request = sensor_says()
    assert request.run_key == f"approved:{pending}" and request.tags["retail/model_version"] == pending
    job = defs().resolve_implicit_global_asset_job_def()
    released = job.execute_in_process(asset_selection=[RELEASE], instance=instance, run_config=request.run_config, tags=request.tags)
    assert released.success and registry.released().version == pending
    assert registry.released().reason.startswith("approved by ana")

    # Rejected where the CLI is not involved (e.g. in SageMaker): the sensor rolls serving back.
    registry.decide(pending, REJECTED, "complaints from the pricing team", "bo")
    assert registry.serving_entry().version == first  # the API already stops serving it
    rollback = sensor_says()
    assert rollback.run_key == f"rollback:{pending}:{first}"
    job.execute_in_process(asset_selection=[RELEASE], instance=instance, run_config=rollback.run_config, tags=rollback.tags)
    assert registry.released().version == first and registry.released().previous_version == pending
    assert isinstance(sensor_says(), dg.SkipReason)


def test_registered_model_judges_its_own_runs_model_not_a_later_one(lake):
    """Two runs training at once: the latest materialization is the other run's model."""
    from retail_assets.defs.training.provenance import upstream_version

    instance = dg.DagsterInstance.ephemeral()
    mine = materialize([MODEL], instance, QUICK)
    theirs = materialize([MODEL], instance, QUICK)
    my_version = materialized(mine, MODEL)[0].metadata["model_version"].value
    assert materialized(theirs, MODEL)[0].metadata["model_version"].value != my_version

    class RegisteringInMyRun:  # what registered_model sees when it runs later in my run
        run = instance.get_run_by_id(mine.run_id)

    RegisteringInMyRun.instance = instance
    assert upstream_version(RegisteringInMyRun, MODEL).version == my_version


FLOORS_OFF = {"RETAIL_MIN_MACRO_F1": "0", "RETAIL_MIN_ACCURACY": "0", "RETAIL_MIN_CLASS_PRECISION": "0"}


def test_a_corrupt_serving_model_fails_the_champion_comparison_closed(lake, monkeypatch):
    """A champion that cannot be scored must not wave a worse challenger through (it used to pass)."""
    registry = LakeModelRegistry(lake)
    serving = registry.released().version
    lake.write_bytes(f"models/{serving}/model.joblib", b"not a model: truncated by a bad copy")
    for name, value in FLOORS_OFF.items():  # only the champion comparison can stop the baseline now
        monkeypatch.setenv(name, value)

    chain = materialize(CHAIN, dg.DagsterInstance.ephemeral(), WEAK)

    assert not chain.success and materialized(chain, RELEASE) == []
    weak = materialized(chain, MODEL)[0].metadata["model_version"].value
    criterion = next(c for c in lake.read_json(f"models/{weak}/gate.json")["criteria"] if c["name"] == "champion_challenger")
    assert not criterion["passed"]
    assert f"serving model {serving} cannot be scored" in criterion["detail"] and "fail closed" in criterion["detail"]
    assert registry.get(weak).status == REJECTED
    assert registry.released().version == serving


def test_a_feature_version_change_the_registry_records_skips_the_comparison(lake):
    from retail_assets.training.champion import score_serving_model
    from retail_assets.training.gate import ChampionScore, PromotionGate

    registry = LakeModelRegistry(lake)
    serving = registry.released().version
    entry_file = lake.path(f"registry/{registry.group}/versions/{serving}.json")
    entry_file.write_text(entry_file.read_text().replace('"feature_version": "1"', '"feature_version": "0"'))

    champion = score_serving_model(registry, lake, "challenger", "1")

    assert champion.feature_version_changed and champion.macro_f1 is None
    gate = PromotionGate()
    skipped = gate._champion(0.5, champion)
    assert skipped["passed"] and "feature version 0" in skipped["detail"]
    unscorable = gate._champion(0.5, ChampionScore(serving, None, f"serving model {serving} cannot be scored: gone"))
    assert not unscorable["passed"]


LOGISTIC = {"ops": {"price_sensitivity_model": {"config": {"hyperparameters": {"candidates": "logistic_regression", "search_size": "1"}}}}}


def test_two_trainings_that_finish_together_are_each_judged_against_what_serves_at_release(lake, monkeypatch):
    """Both models are registered while the old champion serves, so both pass against it; the
    second release then finds the first serving, and the second model must beat that one.

    The old champion is a deliberately weak model (the floors set to 0 so it could be released);
    the two trainings are complement naive Bayes and a logistic regression, which scores lower
    than naive Bayes on these weeks (the test measures by how much)."""
    registry = LakeModelRegistry(lake)
    instance = dg.DagsterInstance.ephemeral()
    for name, value in FLOORS_OFF.items():
        monkeypatch.setenv(name, value)
    with monkeypatch.context() as anything_goes:
        anything_goes.setenv("RETAIL_CHAMPION_MARGIN", "1")
        assert materialize(CHAIN, instance, WEAK).success
    champion = registry.released().version

    trainings = [materialize([MODEL, REGISTERED], instance, config) for config in (QUICK, LOGISTIC)]
    assert all(run.success for run in trainings)
    first, second = (materialized(run, REGISTERED)[0].metadata["model_version"].value for run in trainings)
    for version in (first, second):  # both judged against the same old champion, and both passed
        assert registry.get(version).status == APPROVED
        assert lake.read_json(f"models/{version}/gate.json")["champion"] == champion

    def release(version):
        return materialize([RELEASE], instance, {"ops": {"api_release": {"config": {"version": version}}}})

    assert release(first).success and registry.released().version == first  # judged against what serves: no change
    assert "rejudged_at_release" not in lake.read_json(f"models/{first}/gate.json")

    late = release(second)
    gate = lake.read_json(f"models/{second}/gate.json")
    criterion = next(c for c in gate["criteria"] if c["name"] == "champion_challenger")
    # The first model, scored independently on the second one's test weeks, is better by more than the margin.
    with lake.local_directory(f"training/jobs/{second}/input/data/test") as directory:
        test = read_channel("test", directory)
    predicted = [p.code for p in registry.load_model(registry.get(first)).predict_dicts(test.features())]
    first_f1 = f1_score(test.codes(), np.array(predicted), labels=["LA", "MM", "UM"], average="macro")
    print(f"on {second}'s test weeks: {first} (serving) {first_f1:.4f}, {second} {criterion['value']:.4f}, margin 0.01")
    assert criterion["value"] < first_f1 - 0.01
    assert (gate["champion"], gate["rejudged_at_release"], criterion["passed"]) == (first, True, False)
    assert criterion["threshold"] == pytest.approx(first_f1 - 0.01)
    assert not late.success and "judged against an older champion" in step_failure(late, "api_release")
    assert registry.get(second).status == REJECTED
    assert registry.get(second).history[-1]["reason"].startswith(f"re-judged at release against {first}")
    assert registry.released().version == registry.serving_entry().version == first  # the better model keeps serving
