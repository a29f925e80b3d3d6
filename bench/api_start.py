"""How long an API process takes to become ready, with the model's saved scorer and without it.

    .venv/bin/python bench/api_start.py                  # the released model of .retail (make demo's lake)
    .venv/bin/python bench/api_start.py --lake DIR --rounds 5

The released model's folder is copied (the lake given is only read) into two new lakes, each registering and releasing it: one
as training saves it (model.joblib and scorer.joblib), one without scorer.joblib (a model saved
before the file existed: the API compiles and checks the scorer from the unpickled pipeline, which
imports scikit-learn). Then, alternating, a `uvicorn retail_api.app:create_app --factory` process
per start, timed from its launch until `/readyz` answers 200, with the CPU it spent by then (from
/proc); each process is killed by its pid. Prints every start, the medians and their ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving_runs import cpu_seconds  # noqa: E402
from retail_model.artifact import SCORER_FILE_NAME, PriceSensitivityModel  # noqa: E402
from retail_model.features import FEATURE_VERSION  # noqa: E402
from retail_model.lake import LocalLake  # noqa: E402
from retail_model.registry import APPROVED, LakeModelRegistry  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", type=Path, default=ROOT / ".retail", help="a local lake with a released model (make demo's)")
    parser.add_argument("--rounds", type=int, default=3, help="starts of each kind")
    args = parser.parse_args()
    source = LakeModelRegistry(LocalLake(args.lake))
    released = source.serving_entry()
    if released is None:
        raise SystemExit(f"no released model in {args.lake}: run `make pipeline` first")
    with tempfile.TemporaryDirectory(prefix="retail-api-start-") as scratch:
        lakes = {kind: _lake_with(source, released.version, Path(scratch) / kind, keep_scorer=kind == "saved scorer")
                 for kind in ("saved scorer", "no scorer file")}
        results: dict[str, list[tuple[float, float]]] = {kind: [] for kind in lakes}
        print(f"model {released.version}; load average {os.getloadavg()[0]:.1f}")
        for round_number in range(args.rounds):
            for kind, lake in lakes.items():
                ready, cpu = _start(lake)
                results[kind].append((ready, cpu))
                print(f"  round {round_number + 1}: {kind:<15} ready in {ready:5.2f} s, {cpu:5.2f} s of CPU")
    medians = {kind: (statistics.median(r for r, _ in runs), statistics.median(c for _, c in runs)) for kind, runs in results.items()}
    for kind, (ready, cpu) in medians.items():
        print(f"{kind:<15} median: ready in {ready:5.2f} s, {cpu:5.2f} s of CPU")
    (ready_saved, cpu_saved), (ready_none, cpu_none) = medians["saved scorer"], medians["no scorer file"]
    print(f"saved scorer / no scorer file: ready {ready_saved / ready_none:.2f}x, CPU {cpu_saved / cpu_none:.2f}x "
          f"(load average {os.getloadavg()[0]:.1f})")


def _lake_with(source: LakeModelRegistry, version: str, root: Path, keep_scorer: bool) -> Path:
    """A new lake holding the model's folder, registered Approved and released."""
    lake = LocalLake(root)
    folder = root.parent / f"{root.name}-model"
    with source.lake.local_directory(f"models/{version}") as held:  # a local lake's own folder: never changed here
        shutil.copytree(held, folder)
    if not keep_scorer:
        (folder / SCORER_FILE_NAME).unlink(missing_ok=True)
    elif not (folder / SCORER_FILE_NAME).is_file():  # saved before the file existed: save it as training now does
        PriceSensitivityModel.load(folder, version=version).save(folder)
    lake.upload_directory(folder, f"models/{version}")
    registry = LakeModelRegistry(lake)
    registry.register(version, model_uri=lake.uri_of(f"models/{version}"), feature_version=FEATURE_VERSION, metrics={}, status=APPROVED)
    registry.record_release(version, reason="bench", actor="bench")
    return root


def _start(lake: Path) -> tuple[float, float]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "RETAIL_LAKE": str(lake), "RETAIL_API_KEY": "bench-key", "RETAIL_MODE": "local"}
    command = [sys.executable, "-m", "uvicorn", "retail_api.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the API exited with {process.returncode} before it was ready (lake {lake})")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - started > 120:
                raise SystemExit(f"the API was not ready within 120 s (lake {lake})")
            time.sleep(0.02)
        return time.perf_counter() - started, cpu_seconds(process.pid)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the prediction log's shipper goes too
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
