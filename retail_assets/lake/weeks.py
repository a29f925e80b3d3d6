"""Which weeks a table's commits rewrote: what lets each hop replace only the weeks that changed.

Every pipeline commit to raw, silver, gold and features records the weeks whose rows it
replaced (the `weeks` commit property: a comma-separated list, or `all` for a full rebuild). A
hop reads the commits its source made since the version it last built from and rewrites
exactly those weeks. A commit that does not say (written by an older version of the pipeline,
or by another tool) makes the next hop rebuild everything: never a week left stale.
"""

from __future__ import annotations

from retail_assets.ingest.tables import EVERY_WEEK, WEEKS, weeks_property
from retail_model.lake import Lake

__all__ = ["built_from", "changed_weeks", "last_rewrite", "parse_weeks", "rewritten_among", "weeks_property"]
# Commits that change no row (compaction, vacuum, table properties).
_NO_ROW_CHANGES = {"OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES"}


def parse_weeks(value: str | None) -> set[int] | None:
    """A commit's `weeks` property back as a set; None when it rewrote every week or does not say."""
    if value is None or value == EVERY_WEEK:
        return None
    return {int(week) for week in value.split(",") if week}


def built_from(lake: Lake, table: str, source: str) -> int | None:
    """The version of `source` that the latest commit of `table` covering every partition read."""
    for commit in lake.commits(table):
        if commit.properties.get("partitions", "all") == "all" and source in commit.lineage:
            return commit.lineage[source]
    return None


def changed_weeks(lake: Lake, source: str, since: int | None, upto: int) -> set[int] | None:
    """Weeks `source` rewrote in its commits after version `since` up to `upto`; None means
    "assume every week" (no baseline, or a commit that does not say which weeks it touched)."""
    if since is None or since > upto:
        return None
    weeks: set[int] = set()
    for commit in lake.commits(source, limit=max(lake.table_version(source) - since, 0)):
        if commit.version > upto:
            continue
        if commit.version <= since:
            break
        if commit.operation in _NO_ROW_CHANGES:
            continue
        touched = parse_weeks(commit.properties.get(WEEKS))
        if touched is None:
            return None
        weeks |= touched
    return weeks


def rewritten_among(lake: Lake, table: str, weeks: set[str], since: int | None, upto: int | None) -> set[str]:
    """Those of `weeks` whose rows `table`'s commits after version `since` up to `upto` replaced (a
    corrected or emptied week); all of them when a commit does not say which weeks it replaced;
    none when `since` is unknown (nothing to compare with)."""
    if since is None or upto is None:
        return set()
    touched = changed_weeks(lake, table, since, upto)
    return set(weeks) if touched is None else {str(week) for week in touched} & weeks


def last_rewrite(lake: Lake, table: str) -> set[int] | None:
    """The weeks the latest row-changing commit of `table` rewrote (None: every week, or unknown)."""
    for commit in lake.commits(table, limit=20):
        if commit.operation not in _NO_ROW_CHANGES:
            return parse_weeks(commit.properties.get(WEEKS))
    return None
