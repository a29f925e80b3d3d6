"""Training on both sample profiles: today's job (the baseline) and the current one, on the same
channels in the same run, each in its own child process (its wall time and peak RSS are its own).

    .venv/bin/python bench/train.py                       # default 12 x 4,000 and realistic 104 x 4,500
    .venv/bin/python bench/train.py --profiles default    # one profile only
    .venv/bin/python bench/train.py --realistic-size 24x3000 --skip-baseline
    .venv/bin/python bench/train.py --baseline-cap 600     # stop the baseline after 600 s

The baseline (today's job) may take far longer than the current one: it is stopped after
`--baseline-cap` seconds (default: 5 x the current job's time + 30 s, enough to tell whether
the current job takes <= 1/5 of it). A stopped baseline is printed as such, with the bound it
gives: "baseline stopped at X s, unfinished: current / baseline <= current / X".

Each profile's lake (sample-data, then the graph up to basket_features) is built once and cached
in ~/.cache/retail-mlops/bench-train-<profile>-<weeks>x<baskets>-<seed>/. The channels are cut as
the training asset cuts them (the latest 20% of weeks are the test set). Both jobs run the
SageMaker-contract entrypoint as a child process (`python -m retail_training.entrypoint`):
the baseline from the tree of commit BASELINE_REF (the search as it was before issue 16, its
default hyperparameters), extracted with `git archive`; the current one from this tree.
The machine may be shared and noisy: compare the ratios, which come from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASELINE_REF = "dbd72cf"  # main before issue 16: today's search (search_size 2, six candidates)
SIZES = {"default": "12x4000", "realistic": "104x4500"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", default="default,realistic")
    parser.add_argument("--default-size", default=SIZES["default"], help="WEEKSxBASKETS")
    parser.add_argument("--realistic-size", default=SIZES["realistic"], help="WEEKSxBASKETS")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-baseline", action="store_true", help="only the current training")
    parser.add_argument("--build-only", action="store_true", help="build (cache) the lakes and stop")
    parser.add_argument("--hyperparameters", default="{}", help="JSON for the current training")
    parser.add_argument("--baseline-cap", type=float, default=None,
                        help="seconds after which the baseline job is stopped (default: 5 x the current job + 30 s)")
    args = parser.parse_args()
    print(f"load average before the run: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} CPUs")
    results = {}
    for profile in args.profiles.split(","):
        weeks, baskets = (int(x) for x in getattr(args, f"{profile}_size").split("x"))
        lake, ceiling = build_lake(profile, weeks, baskets, args.seed)
        if args.build_only:
            continue
        with tempfile.TemporaryDirectory(prefix="retail-bench-train-") as scratch:
            train_dir, test_dir = cut_channels(lake, Path(scratch))
            print(f"\n=== {profile} profile, {weeks} weeks x {baskets:,} baskets; generator's ceiling macro-F1 {ceiling:.4f}")
            current = run_job(ROOT, train_dir, test_dir, Path(scratch) / "current", args.hyperparameters)
            report("current", current)
            baseline = None
            if not args.skip_baseline:
                cap = args.baseline_cap if args.baseline_cap is not None else 5 * current["job_seconds"] + 30
                baseline = run_job(baseline_tree(Path(scratch)), train_dir, test_dir, Path(scratch) / "baseline", "{}",
                                   module="retail_assets.training.entrypoint", cap=cap)  # where the entrypoint lived then
                report(f"baseline (today's job, {BASELINE_REF})", baseline)
            results[profile] = (current, baseline)
    print(f"\nload average after the run: {os.getloadavg()[0]:.1f} (1 min)")
    for profile, (current, baseline) in results.items():
        summary(profile, current, baseline)
    table(results)


def build_lake(profile: str, weeks: int, baskets_per_week: int, seed: int) -> tuple[Path, float]:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "retail-mlops" / f"bench-train-{profile}-{weeks}x{baskets_per_week}-{seed}"
    lake, sample = cache / "lake", cache / "sample"
    if not (lake / "features" / "_delta_log").is_dir():
        print(f"building {lake}: {profile} profile, {weeks} weeks x {baskets_per_week} baskets up to basket_features (once)")
        started = time.perf_counter()
        (cache / "dagster_home").mkdir(parents=True, exist_ok=True)
        (cache / "dagster_home" / "dagster.yaml").write_text("")
        from retail_assets.sample_data import generate_sample_data

        generate_sample_data(sample, weeks=weeks, baskets_per_week=baskets_per_week, seed=seed, profile=profile)
        subprocess.run(
            [sys.executable, "-c", BUILD_FEATURES, str(sample)], check=True, cwd=ROOT,
            env=os.environ | {"PYTHONPATH": str(ROOT), "RETAIL_LAKE": str(lake), "DAGSTER_HOME": str(cache / "dagster_home")},
        )
        print(f"built in {time.perf_counter() - started:.0f} s")
    from retail_assets.sample_data import REPORT_FILE_NAME

    report_file = sample / REPORT_FILE_NAME
    ceiling = json.loads(report_file.read_text())["ceiling_macro_f1"] if report_file.is_file() else float("nan")
    return lake, ceiling


BUILD_FEATURES = """
import sys
from pathlib import Path
import dagster as dg
from rich.console import Console
from rich.progress import Progress
from retail_assets.pipeline import run_pipeline
run_pipeline(Path(sys.argv[1]), dg.DagsterInstance.get(), Progress(console=Console(quiet=True)), through_model=False)
"""


def cut_channels(lake: Path, scratch: Path) -> tuple[Path, Path]:
    from retail_assets.training.data import time_split
    from retail_model.lake import LocalLake

    features = LocalLake(lake).scan("features").collect()
    split = time_split(features["shop_week"].unique().to_list())
    for name, weeks in (("train", split.train_weeks), ("test", split.test_weeks)):
        (scratch / name).mkdir(parents=True)
        features.filter(pl.col("shop_week").is_in(weeks)).write_parquet(scratch / name / "part-0.parquet")
    print(f"channels: {split.describe()}")
    return scratch / "train", scratch / "test"


def baseline_tree(scratch: Path) -> Path:
    """Today's code (BASELINE_REF), extracted next to the channels."""
    tree = scratch / "baseline-tree"
    if not tree.is_dir():
        tree.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE_REF, "retail_assets", "retail_model"], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def run_job(tree: Path, train_dir: Path, test_dir: Path, model_dir: Path, hyperparameters: str,
            module: str = "retail_training.entrypoint", cap: float | None = None) -> dict:
    """The entrypoint of `tree` as a child process: its metrics, wall seconds and peak RSS.

    With `cap`, a job still running after `cap` seconds is stopped (SIGTERM, then SIGKILL of its
    process group) and returned as {"stopped": True, "job_seconds": ..., "peak_rss_mb": ...}.
    """
    environ = os.environ | {"PYTHONPATH": str(tree), "SM_MODEL_DIR": str(model_dir), "SM_CHANNEL_TRAIN": str(train_dir),
                            "SM_CHANNEL_TEST": str(test_dir), "SM_HPS": hyperparameters}
    started = time.perf_counter()
    stopped = False
    with open(model_dir.parent / f"{model_dir.name}.log", "w") as log:
        process = subprocess.Popen([sys.executable, "-m", module], cwd=tree, env=environ, stdout=log, stderr=log, start_new_session=True)
        kill_at = None  # SIGKILL after a grace period if SIGTERM was not enough
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            now = time.perf_counter()
            if cap is not None and now - started > cap and kill_at is None:
                stopped, kill_at = True, now + 10
                os.killpg(process.pid, signal.SIGTERM)
            elif kill_at is not None and now > kill_at:
                os.killpg(process.pid, signal.SIGKILL)
                kill_at = float("inf")
            time.sleep(0.2)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    if stopped:
        return {"stopped": True, "job_seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024}
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"training in {tree} failed; its log: {(model_dir.parent / f'{model_dir.name}.log').read_text()[-3000:]}")
    metrics = json.loads((model_dir / "metrics.json").read_text())
    return metrics | {"job_seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024}


def report(title: str, metrics: dict) -> None:
    if metrics.get("stopped"):
        print(f"\n-- {title}: stopped at {metrics['job_seconds']:.0f} s, unfinished (peak RSS so far {metrics['peak_rss_mb']:,.0f} MB)")
        return
    print(f"\n-- {title}: {metrics['n_train']:,} train / {metrics['n_test']:,} test baskets, {metrics['n_features']:,} features")
    print(f"{'rung':>4} {'candidate':20} {'setting':40} {'val F1':>7} {'fit s':>7}  stop reason")
    for trial in metrics["search"]["trials"]:
        params = {k: v for k, v in trial["params"].items()}
        setting = ",".join(f"{k}={v}" for k, v in params.items()) or "-"
        score = trial.get("validation_macro_f1")
        reason = trial.get("stop_reason") or trial.get("error") or ""
        print(f"{trial.get('rung', 0):>4} {trial['name']:20} {setting[:40]:40} {score if score is None else round(score, 4)!s:>7} "
              f"{trial.get('fit_seconds', 0):7.1f}  {reason}")
    lowest = min(c["precision"] for c in metrics["per_class"].values())
    print(f"winner {metrics['winner']} {metrics['winner_params']} {metrics.get('feature_set', 'all features')}: "
          f"test macro-F1 {metrics['macro_f1']:.4f}, accuracy {metrics['accuracy']:.4f}, lowest class precision {lowest:.4f}; "
          f"refit {metrics['refit']['fit_seconds']:.1f} s; job {metrics['job_seconds']:.1f} s; peak RSS {metrics['peak_rss_mb']:,.0f} MB")


def summary(profile: str, current: dict, baseline: dict | None) -> None:
    lowest = min(c["precision"] for c in current["per_class"].values())
    print(f"\n{profile}: current test macro-F1 {current['macro_f1']:.4f} (lowest class precision {lowest:.4f}), "
          f"job {current['job_seconds']:.1f} s, peak RSS {current['peak_rss_mb']:,.0f} MB")
    ratio = None
    if baseline is not None and baseline.get("stopped"):
        ratio = current["job_seconds"] / baseline["job_seconds"]
        print(f"{profile}: baseline stopped at {baseline['job_seconds']:.0f} s, unfinished: current / baseline <= {ratio:.3f}")
    elif baseline is not None:
        ratio = current["job_seconds"] / baseline["job_seconds"]
        print(f"{profile}: baseline test macro-F1 {baseline['macro_f1']:.4f}, job {baseline['job_seconds']:.1f} s, "
              f"peak RSS {baseline['peak_rss_mb']:,.0f} MB; current / baseline time x{ratio:.3f}")
    if profile == "realistic":
        checks = [("test macro-F1 >= 0.99", current["macro_f1"] >= 0.99), ("every class precision >= 0.985", lowest >= 0.985),
                  ("job <= 90 s", current["job_seconds"] <= 90)]
        if ratio is not None:
            checks.append(("job <= 1/5 of the baseline's", ratio <= 0.2))
    else:
        checks = [("test macro-F1 >= 0.919", current["macro_f1"] >= 0.919)]
        if ratio is not None:
            checks.append(("job no slower than the baseline's", ratio <= 1))
    print(f"{profile} targets: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in checks))


def table(results: dict) -> None:
    """Every job of the run as one markdown table (what a closing note pastes)."""
    print("\n| profile | job | winner | test macro-F1 | lowest class precision | job s | peak RSS MB | current / baseline |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for profile, (current, baseline) in results.items():
        for title, metrics in (("current", current), (f"baseline {BASELINE_REF}", baseline)):
            if metrics is None:
                continue
            if metrics.get("stopped"):
                row = ["stopped unfinished", "-", "-", f"> {metrics['job_seconds']:.0f}"]
            else:
                params = ", ".join(f"{k}={v}" for k, v in metrics["winner_params"].items())
                row = [f"`{metrics['winner']}` {params} on `{metrics.get('feature_set', 'all features')}`", f"{metrics['macro_f1']:.4f}",
                       f"{min(c['precision'] for c in metrics['per_class'].values()):.4f}", f"{metrics['job_seconds']:.1f}"]
            ratio = "-"
            if title == "current" and baseline is not None:
                bound = "<= " if baseline.get("stopped") else ""
                ratio = f"{bound}{current['job_seconds'] / baseline['job_seconds']:.3f}"
            print(f"| {profile} | {title} | " + " | ".join(row) + f" | {metrics['peak_rss_mb']:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
