"""What loading the code location costs a fresh interpreter: every run worker, step forkserver and
the UI pay it. Baseline, in the same run: the same load with scikit-learn and matplotlib imported
first, which is what it cost while the definitions imported them.

    .venv/bin/python bench/definitions_load.py [--repeats 5]

Prints each child's CPU seconds (user + system, from wait4: the machine is shared, so CPU time
is steadier than wall time) and wall seconds, the medians, and current / baseline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("sklearn", "scipy.stats", "matplotlib", "xgboost", "sagemaker")
LOAD = (
    "import sys, warnings; warnings.simplefilter('ignore'); {before}"
    "import retail_assets.definitions as d; d.defs(); "
    f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
)
VARIANTS = {
    "current": LOAD.format(before=""),
    "baseline (scikit-learn, matplotlib first)": LOAD.format(before="import sklearn.feature_extraction, matplotlib.figure; "),
}


def load_once(code: str) -> tuple[float, float, str]:
    """One fresh interpreter loading the definitions: (CPU seconds, wall seconds, heavy modules loaded)."""
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("loading the definitions failed: run `.venv/bin/dagster definitions validate -w workspace.yaml`")
    return usage.ru_utime + usage.ru_stime, wall, output.strip() or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    runs: dict[str, list] = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):  # alternated, so a change in the machine's load hits both alike
        for name, code in VARIANTS.items():
            runs[name].append(load_once(code))
            cpu, wall, heavy = runs[name][-1]
            print(f"  {name:<42} cpu {cpu:5.2f} s  wall {wall:5.2f} s  heavy modules loaded: {heavy}")
    medians = {}
    for name, measured in runs.items():
        medians[name] = (statistics.median(r[0] for r in measured), statistics.median(r[1] for r in measured))
        print(f"{name:<44} median cpu {medians[name][0]:.2f} s, wall {medians[name][1]:.2f} s")
    current, baseline = medians.values()
    print(f"current / baseline: cpu {current[0] / baseline[0]:.2f}, wall {current[1] / baseline[1]:.2f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
