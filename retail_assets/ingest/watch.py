"""What the landing sensor decides from the landing zone and the ingest log: which file versions
are ready to ingest, and which are still being written.

A file is ready when its version differs from the one its week was last built from and it has
stopped changing: the same size and stamp (mtime or ETag) at two looks in a row, so a file still
being copied in is never ingested half-written. The state between looks is the sensor's cursor;
everything else is read from the lake, so a restarted daemon neither re-ingests nor skips.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from retail_assets.ingest.landing import LandedFile, ingested_versions, landed_files
from retail_model.lake import Lake


@dataclass(frozen=True)
class ReadyFile:
    landed: LandedFile
    fingerprint: str
    generation: int  # how many times this week has been attempted before: A -> B -> A is a new era

    @property
    def week(self) -> str:
        return self.landed.week


@dataclass
class LandingWatch:
    observed: dict[str, list] = field(default_factory=dict)  # key -> [size, stamp] at the previous look
    fingerprints: dict[str, list] = field(default_factory=dict)  # key -> [size, stamp, fingerprint]

    @classmethod
    def from_cursor(cls, cursor: str | None) -> LandingWatch:
        try:
            payload = json.loads(cursor or "{}")
        except json.JSONDecodeError:
            payload = {}
        if not isinstance(payload, dict) or "observed" not in payload:
            return cls()  # an old or foreign cursor: start over (the ingest log keeps what matters)
        return cls(payload["observed"], payload.get("fingerprints", {}))

    def to_cursor(self) -> str:
        return json.dumps({"observed": self.observed, "fingerprints": self.fingerprints}, sort_keys=True)


def look(lake: Lake, watch: LandingWatch) -> tuple[list[ReadyFile], list[LandedFile], LandingWatch]:
    """(files ready to ingest, files still settling, the watch state for the next look)."""
    recorded = ingested_versions(lake)
    ready, settling = [], []
    observed, fingerprints = {}, {}
    for landed in landed_files(lake):
        stored = landed.stored
        shape = [stored.size, stored.stamp]
        observed[stored.key] = shape
        record = recorded.get(landed.week) or {}
        if [record.get("size"), record.get("stamp")] == shape:
            continue  # exactly what the week was last built from: not even a hash is needed
        cached = watch.fingerprints.get(stored.key)
        fingerprint = cached[2] if cached and cached[:2] == shape else lake.fingerprint(stored)
        fingerprints[stored.key] = [*shape, fingerprint]
        if record.get("fingerprint") == fingerprint:
            continue  # touched or re-copied, same bytes
        if watch.observed.get(stored.key) != shape:
            settling.append(landed)  # new or still changing: look again next tick
            continue
        ready.append(ReadyFile(landed, fingerprint, int(record.get("generation") or 0)))
    return ready, settling, LandingWatch(observed, fingerprints)


def pending_files(lake: Lake) -> list[ReadyFile]:
    """Files whose content differs from what their week was last ingested (or rejected) from,
    taken as settled: for the CLI, which lands the files itself and ingests them at once."""
    seen_settled = LandingWatch({landed.key: [landed.stored.size, landed.stored.stamp] for landed in landed_files(lake)})
    ready, _, _ = look(lake, seen_settled)
    return ready


def contiguous_blocks(order: list[str], wanted: set[str]) -> list[list[str]]:
    """`wanted` keys grouped into runs of neighbours in `order`: one single-run backfill each."""
    blocks: list[list[str]] = []
    previous_wanted = False
    for key in order:
        if key in wanted:
            if previous_wanted:
                blocks[-1].append(key)
            else:
                blocks.append([key])
        previous_wanted = key in wanted
    return blocks
