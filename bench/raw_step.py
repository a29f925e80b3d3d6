"""The raw step alone (`load_weeks` into a fresh local lake), on another commit's tree and on this one,
in alternating child processes: wall seconds, CPU seconds and peak RSS of each run, their
medians and the current/base ratios.

    .venv/bin/python bench/raw_step.py --base-ref main --pairs 3      # a branch against main
    .venv/bin/python bench/raw_step.py --base-ref HEAD~3 --weeks 12   # against an earlier commit, a quick look

The data (`retail-mlops sample-data --weeks 115 --baskets-per-week 4100 --seed 7`, ~3 M rows)
is generated once into --cache. The base tree is `git archive` of --base-ref (main by default),
extracted into --base (by default a folder under the temp folder named after the commit, so
another ref never reuses a stale tree) unless that directory already holds a tree. Each child lands the files
in a fresh lake (not timed) and times `load_weeks`, as bench/ingest.py's `plain` child does;
its wall and CPU seconds (getrusage of the child itself, polars' threads included) cover
`load_weeks` alone, and so does the peak RSS (the child's maximum when `load_weeks` returns);
the child's CPU seconds from wait4 add its imports and the landing. Each run then prints a
digest of the raw and quarantine tables' rows, which must be the same for both trees. The machine is shared:
read the ratios, which come from runs interleaved with each other.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TREE = HERE.parent


def child(data: Path, work: Path) -> dict:
    import resource

    from retail_assets.ingest.landing import land_directory, landed_files
    from retail_assets.ingest.load import load_weeks
    from retail_model.lake import LocalLake

    lake = LocalLake(work / "lake")
    land_directory(data, lake)
    files = landed_files(lake)
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    report = load_weeks(lake, files, "bench")
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"wall": wall, "cpu": cpu, "rss_mb": after.ru_maxrss / 1024, "load": os.getloadavg()[0], "kept": report.rows_kept,
            "quarantined": report.rows_quarantined, "digest": digest(work / "lake")}


def digest(lake: Path) -> str:
    """The raw and quarantine tables' rows (in a fixed order) hashed: equal for equal tables."""
    import polars as pl

    parts = []
    for table in ("raw", "quarantine"):
        frame = pl.read_delta(str(lake / table)).sort("shop_week", "source_file", "source_line")
        parts.append(f"{table}:{frame.height}:{frame.hash_rows(seed=0).sum()}")
    return " ".join(parts)


def run(tree: Path, data: Path, scratch: Path) -> dict:
    work = Path(tempfile.mkdtemp(dir=scratch))
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--data", str(data), "--work", str(work)]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, cwd=tree)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)  # this child's own resource usage
    shutil.rmtree(work)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"the child on {tree} failed")
    result = json.loads(output.decode().strip().splitlines()[-1])
    return result | {"child_wall": time.perf_counter() - started, "child_cpu": usage.ru_utime + usage.ru_stime}


def base_tree(base: Path | None, ref: str) -> Path:
    if base is None:
        commit = subprocess.run(["git", "-C", str(TREE), "rev-parse", "--verify", f"{ref}^{{commit}}"], check=True,
                                capture_output=True, text=True).stdout.strip()
        base = Path(tempfile.gettempdir()) / f"retail-bench-base-{commit[:12]}"
    if not (base / "retail_assets").is_dir():
        base.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(TREE), "archive", ref], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
    return base


def sample_data(cache: Path, weeks: int, baskets: int, seed: int) -> Path:
    data = cache / f"w{weeks}_b{baskets}_s{seed}"
    if not any(data.glob("transactions_*.csv")):
        cli = Path(sys.executable).parent / "retail-mlops"
        subprocess.run([str(cli), "sample-data", "--out", str(data), "--weeks", str(weeks), "--baskets-per-week", str(baskets),
                        "--seed", str(seed)], check=True, stdout=subprocess.DEVNULL)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--base", type=Path, help="where the base tree is (extracted there if empty; default: under the temp folder)")
    parser.add_argument("--base-ref", default="main", help="the commit to compare against")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "retail-bench-data")
    parser.add_argument("--weeks", type=int, default=115)
    parser.add_argument("--baskets-per-week", type=int, default=4100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.data, args.work)))
        return
    trees = {"base": base_tree(args.base, args.base_ref), "current": TREE}
    data = sample_data(args.cache, args.weeks, args.baskets_per_week, args.seed)
    print(f"data: {data} ({len(list(data.glob('transactions_*.csv')))} files); base {trees['base']}, current {trees['current']}")
    runs: dict[str, list[dict]] = {"base": [], "current": []}
    with tempfile.TemporaryDirectory(prefix="raw-step-") as scratch:
        for pair in range(args.pairs):
            order = ("base", "current") if pair % 2 == 0 else ("current", "base")  # neither tree always goes first
            for name in order:
                r = run(trees[name], data, Path(scratch))
                runs[name].append(r)
                print(f"pair {pair + 1} {name:7s}: load_weeks wall {r['wall']:6.2f} s, cpu {r['cpu']:6.2f} s; child wall "
                      f"{r['child_wall']:6.2f} s, cpu {r['child_cpu']:6.2f} s, peak RSS {r['rss_mb']:6.0f} MB; load {r['load']:.1f}; "
                      f"kept {r['kept']:,}, quarantined {r['quarantined']:,}; {r['digest']}", flush=True)
    report(runs)


def report(runs: dict[str, list[dict]]) -> None:
    medians = {name: {key: statistics.median(r[key] for r in rs) for key in ("wall", "cpu", "child_cpu", "rss_mb")} for name, rs in runs.items()}
    for name, m in medians.items():
        print(f"median {name:7s}: load_weeks wall {m['wall']:6.2f} s, cpu {m['cpu']:6.2f} s; child cpu {m['child_cpu']:6.2f} s; "
              f"peak RSS {m['rss_mb']:6.0f} MB")
    base, current = medians["base"], medians["current"]
    print("current/base: " + ", ".join(f"{key} {current[key] / base[key]:.2f}x" for key in ("wall", "cpu", "child_cpu", "rss_mb")))
    digests = {r["digest"] for rs in runs.values() for r in rs}
    print("tables identical across trees and runs" if len(digests) == 1 else f"TABLES DIFFER: {sorted(digests)}")


if __name__ == "__main__":
    main()
