"""Throughput of the sample-data generator: the default sample vs a 1-week baseline.

    .venv/bin/python bench/bench_sample_data.py

Both runs happen in this process after an untimed warm-up (imports, first-call costs); each timed
run includes building the world (products, stores, customers) once. Rows/second for the full
sample far below the baseline's would mean the per-week path stopped scaling linearly.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from retail_assets.sample_data import generate_sample_data


def _timed(out_dir: Path, **kwargs) -> tuple[int, float]:
    start = time.perf_counter()
    report = generate_sample_data(out_dir, **kwargs)
    return report.rows, time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        generate_sample_data(Path(tmp) / "warm-up", weeks=1, baskets_per_week=10)
        runs = {
            "baseline: 1 week x 4000 baskets": _timed(Path(tmp) / "baseline", weeks=1),
            "default: 12 weeks x 4000 baskets": _timed(Path(tmp) / "default"),
        }
    for name, (rows, seconds) in runs.items():
        print(f"{name:34s} {rows:>8,d} rows in {seconds:6.2f} s = {rows / seconds:>10,.0f} rows/s")
    (base_rows, base_s), (rows, seconds) = runs.values()
    print(f"default / baseline throughput: {(rows / seconds) / (base_rows / base_s):.2f}x")


if __name__ == "__main__":
    main()
