"""What bench/explain.py and bench/batch_path.py share: the lake's served model, and steps timed in alternating blocks."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from retail_model.artifact import PriceSensitivityModel
from retail_model.lake import LocalLake
from retail_model.registry import LakeModelRegistry


def served_model(lake: Path) -> PriceSensitivityModel:
    """The lake's serving model, prepared as the API prepares it before its first request."""
    registry = LakeModelRegistry(LocalLake(lake))
    model = registry.load_model(registry.serving_entry())
    model.prepare()
    return model


def median_blocks(kinds: dict[str, tuple[Callable, Sequence]], blocks: int, units_per_input: int = 1) -> dict[str, float]:
    """Each step run over all its inputs once per block, the blocks of each kind alternating, in this
    thread's CPU time (time another process takes on the core is not counted); the median block of
    each, in µs per unit (an input holds `units_per_input` units: baskets of a batch)."""
    timings: dict[str, list[float]] = {name: [] for name in kinds}
    for _ in range(blocks):
        for name, (step, inputs) in kinds.items():
            started = time.thread_time_ns()
            for item in inputs:
                step(item)
            timings[name].append((time.thread_time_ns() - started) / (len(inputs) * units_per_input) / 1e3)
    return {name: sorted(values)[len(values) // 2] for name, values in timings.items()}
