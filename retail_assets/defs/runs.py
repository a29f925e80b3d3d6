"""What the instance knows about earlier runs for one piece of work, found by its tags.

Sensors ask this instead of trusting run keys alone: a run key, once used, is never launched
again, which would leave a failed or cancelled ingest unretried for good.
"""

from dataclasses import dataclass

import dagster as dg

MAX_ATTEMPTS = 3
_FAILED = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


@dataclass(frozen=True)
class Attempts:
    in_progress: bool
    failures: int

    @property
    def exhausted(self) -> bool:
        return self.failures >= MAX_ATTEMPTS


def attempts(instance: dg.DagsterInstance, tags: dict[str, str]) -> Attempts:
    records = instance.get_run_records(dg.RunsFilter(tags=tags))
    return Attempts(
        in_progress=any(not record.dagster_run.is_finished for record in records),
        failures=sum(record.dagster_run.status in _FAILED for record in records),
    )


# The executor of the jobs the sensors and the weekly schedule launch for the lake and its scores
# (ingest_week, rebuild_lake, score_weeks): their steps follow one another and each takes seconds,
# so a step process per step was most of such a run (its server imports the code location first:
# about 6 s a run, then under a second per step; bench/step_workers.py). In one process, as
# `retail-mlops materialize` runs them, whose peak memory over the whole history is measured by
# bench/ingest.py. Other runs (the UI's Materialize, training, release) keep step processes.
LAKE_JOB_EXECUTOR = dg.in_process_executor
