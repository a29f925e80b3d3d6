"""Serving benchmark: the real API under wrk, against a naive FastAPI + pandas + scikit-learn service.

    .venv/bin/python bench/serve.py                      # builds (once) a 104-week lake, then measures
    .venv/bin/python bench/serve.py --lake .retail       # or serve the model of an existing lake

Every service runs with uvicorn, one worker, pinned to CPU 0; wrk (one thread, 16 connections)
runs on CPU 1 and posts real baskets from the model's held-out test weeks, round robin. Three
servers are up together and only one is under load at a time: the API as in production (API key
on, metrics on, the prediction log capturing 100%; its shipper process, a child of the API,
shares CPU 0 and its CPU is printed beside the API's), the same API with the prediction log off,
and the naive service. Before timing, the API and the naive service answer the same baskets and
must agree on every class.

Each comparison is a series of pairs of short runs (`--pairs`, `--seconds` each), the two sides
back to back and the order alternating inside the pairs (off-on, on-off, ...), so the host's
drift from one minute to the next falls on both sides of a pair alike: capture off vs capture
100% (single baskets, then batches), no explanation vs `"explain": 3` (both on the capture
server), and the naive service vs the API with capture (`--naive-pairs`). Every capture run
starts with the spool empty and is charged its own shipping, catch-up included; every run starts
with every shipper caught up, so an off run does not pay for the on run before it. Printed: each
pair's requests/s, p99 and CPU per request with their ratios and the 1-min load; the median of
the pair ratios, which is what is checked against the targets; each configuration's figures as
the median over its runs (requests/s, p50/p90/p99, CPU per request of the API process and the
shipper); and basket_predictions' batch scoring baskets/s (in this process, pinned to CPU 0, on
the test weeks). `--only explain` runs just the explain pairs on the capture server (for
iterating on explanations). Method and figures: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.serving_report import explain_line, machine, print_pairs, print_rows, report  # noqa: E402
from bench.serving_runs import KEY, LUA, Load, Server, children, cpu_seconds, drain_log, medians, paired, pin, server, side  # noqa: E402

BIN = Path(sys.executable).parent
PREDICT, BATCH = "/v1/predict", "/v1/predict/batch"


def main() -> None:
    args = _arguments()
    started = time.monotonic()
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("bench/serve.py needs wrk, the HTTP load generator: `sudo apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk`")
    lake = Path(args.lake).resolve() if args.lake else _build_lake(args.weeks, args.baskets_per_week)
    model_dir, version, metrics = _released_model(lake)
    single, batch = _bodies(lake, metrics, args.lines, args.batch_size)
    print(machine())
    print(f"model {version}: {metrics.get('winner')}, {metrics.get('n_features', '?')} features, trained on "
          f"{metrics.get('n_train', 0):,} baskets of {len(metrics.get('split', {}).get('train_weeks', []))} weeks, "
          f"test macro-F1 {metrics.get('macro_f1', float('nan')):.3f}")  # fmt: skip
    print(f"requests: {len(single)} real {args.lines}-line baskets from the test weeks; batches of {args.batch_size} baskets")
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as scratch, ExitStack() as servers:
        work = Path(scratch)
        (work / "post.lua").write_text(LUA)
        _write_lines(work / "single.txt", single)
        _write_lines(work / "explain.txt", [body | {"explain": 3} for body in single])
        _write_lines(work / "batch.txt", [{"baskets": batch[i : i + args.batch_size]} for i in range(0, len(batch), args.batch_size)])
        api_env = {"RETAIL_LAKE": str(lake), "RETAIL_API_KEY": KEY, "RETAIL_MODEL_POLL_SECONDS": "5"}
        api_command = [str(BIN / "python"), "-m", "uvicorn", "retail_api.app:create_app", "--factory",
                       "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
        # The same binary and model on both API servers: only RETAIL_PREDICTION_LOG differs.
        on = servers.enter_context(server("capture 100%", api_command, api_env | {"RETAIL_PREDICTION_LOG_CAPTURE_PERCENT": "100"}, captures=True))
        load = Load(wrk, work, args.seconds, args.connections, servers=[on])

        def runs(target: Server, path: str, bodies: str) -> Callable[[], dict]:
            return lambda: load.run(target, path, bodies)

        if args.only == "explain":
            explain = paired(runs(on, PREDICT, "single.txt"), runs(on, PREDICT, "explain.txt"), args.pairs)
            print_pairs("no explanation vs explain 3, single baskets, capture 100%", explain, ("none", "explain"), args.seconds)
            print_rows({"api": medians(side(explain, "base")), "explain": medians(side(explain, "variant"))}, f"{len(explain)} runs each")
            print("\n" + explain_line(explain))
            print(f"the whole run took {time.monotonic() - started:.0f} s")
            print(machine("after"))
            return
        shipper_started = cpu_seconds(*children(on.pid))
        off = servers.enter_context(server("capture off", api_command, api_env | {"RETAIL_PREDICTION_LOG": "false"}))
        naive = servers.enter_context(server("naive", [str(BIN / "python"), "-m", "uvicorn", "bench.naive_service:app", "--log-level", "warning"],
                                             {"NAIVE_MODEL_DIR": str(model_dir)}))  # fmt: skip
        load.servers += [off, naive]
        _check_agreement(off, naive, single[:50])

        series = {}
        series["capture"] = paired(runs(off, PREDICT, "single.txt"), runs(on, PREDICT, "single.txt"), args.pairs)
        print_pairs("capture off vs capture 100%, single baskets", series["capture"], ("off", "on"), args.seconds)
        series["explain"] = paired(runs(on, PREDICT, "single.txt"), runs(on, PREDICT, "explain.txt"), args.pairs)
        print_pairs("no explanation vs explain 3, single baskets, capture 100%", series["explain"], ("none", "explain"), args.seconds)
        series["batch"] = paired(runs(off, BATCH, "batch.txt"), runs(on, BATCH, "batch.txt"), args.pairs)
        print_pairs(f"capture off vs capture 100%, batches of {args.batch_size}", series["batch"], ("off", "on"), args.seconds, args.batch_size)
        series["naive"] = paired(runs(naive, PREDICT, "single.txt"), runs(on, PREDICT, "single.txt"), args.naive_pairs)
        print_pairs("naive vs retail_api capture 100%, single baskets", series["naive"], ("naive", "api"), args.seconds)
        log_rows = drain_log(on.base)
        log_rows["shipper_cpu_s"] = cpu_seconds(*children(on.pid)) - shipper_started  # its runs and its catch-up
    scoring = _batch_scoring(lake, metrics)
    report(series, args.batch_size, args.seconds, log_rows, scoring)
    print(f"the whole run took {time.monotonic() - started:.0f} s")
    print(machine("after"))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", help="serve the released model of this lake (default: build one, cached)")
    parser.add_argument("--weeks", type=int, default=104, help="weeks of sample data for the built lake")
    parser.add_argument("--baskets-per-week", type=int, default=4500)
    parser.add_argument("--seconds", type=int, default=3, help="duration of each timed run")
    parser.add_argument("--pairs", type=int, default=5, help="pairs of runs per comparison (capture, explain, batch)")
    parser.add_argument("--naive-pairs", type=int, default=3, help="pairs of runs of the naive service and the API")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (clients)")
    parser.add_argument("--lines", type=int, default=18, help="lines per basket of the single-basket requests")
    parser.add_argument("--batch-size", type=int, default=500, help="baskets per batch request")
    parser.add_argument("--only", choices=["explain"], help='only the pairs without and with "explain": 3, and their ratio')
    return parser.parse_args()


def _build_lake(weeks: int, baskets_per_week: int) -> Path:
    """sample-data + materialize, as a user runs them, into a cache folder reused by later runs."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "retail-mlops" / f"bench-serve-{weeks}x{baskets_per_week}"
    lake = cache / "lake"
    if (lake / "registry").is_dir():
        print(f"reusing {lake} (delete {cache} to rebuild)")
        return lake
    env = {**os.environ, "RETAIL_LAKE": str(lake), "DAGSTER_HOME": str(cache / "dagster_home")}
    (cache / "dagster_home").mkdir(parents=True, exist_ok=True)
    print(f"building {lake}: {weeks} weeks x {baskets_per_week} baskets, then the whole graph (minutes, once)")
    cli = str(BIN / "retail-mlops")
    sample = cache / "sample"
    subprocess.run([cli, "sample-data", "--out", str(sample), "--weeks", str(weeks), "--baskets-per-week", str(baskets_per_week)], env=env, check=True)
    subprocess.run([cli, "materialize", "--landing", str(sample)], env=env, check=True)
    return lake


def _released_model(lake: Path) -> tuple[Path, str, dict]:
    from retail_model.lake import LocalLake
    from retail_model.registry import LakeModelRegistry

    entry = LakeModelRegistry(LocalLake(lake)).serving_entry()
    if entry is None:
        sys.exit(f"{lake} has no released or Approved model: run `retail-mlops materialize` on it first")
    model_dir = Path(entry.model_uri)
    metrics = json.loads((model_dir / "metrics.json").read_text()) if (model_dir / "metrics.json").is_file() else {}
    return model_dir, entry.version, metrics


def _bodies(lake: Path, metrics: dict, lines: int, batch_size: int) -> tuple[list[dict], list[dict]]:
    """Checkout requests built from gold baskets of the model's test weeks (never trained on)."""
    from retail_model.lake import LocalLake

    gold = LocalLake(lake).scan("gold")
    weeks = metrics.get("split", {}).get("test_weeks") or gold.select(pl.col("shop_week").max()).collect().to_series().to_list()
    held_out = gold.filter(pl.col("shop_week").is_in(weeks) & (pl.col("basket_price_sensitivity") != "XX")).sort("basket_id").collect()
    single = [_request(row) for row in held_out.filter(pl.col("lines").list.len() == lines).head(2000).iter_rows(named=True)]
    if len(single) < 50:
        sys.exit(f"only {len(single)} test baskets have {lines} lines; pick another --lines")
    batch = [_request(row) for row in held_out.head(max(batch_size * 8, 4000)).iter_rows(named=True)]
    return single, batch


def _request(row: dict) -> dict:
    body = {key: row[key] for key in ("basket_id", "shop_hour", "store_code", "store_format", "store_region", "basket_size",
                                      "basket_type", "basket_dominant_mission")}  # fmt: skip
    body["shop_date"] = row["shop_date"].isoformat()
    body["lines"] = [{k: v for k, v in line.items() if v is not None} for line in row["lines"]]
    if row["cust_code"]:
        body["customer"] = {"code": row["cust_code"], "price_sensitivity": row["cust_price_sensitivity"], "lifestage": row["cust_lifestage"]}
    return body


def _write_lines(path: Path, documents: list[dict]) -> None:
    path.write_text("".join(json.dumps(document) + "\n" for document in documents))


def _check_agreement(api: Server, naive: Server, bodies: list[dict]) -> None:
    answers = {}
    for name, up in (("api", api), ("naive", naive)):
        with httpx.Client(base_url=up.base, headers={"X-API-Key": KEY}, timeout=30) as http:
            answers[name] = [http.post(PREDICT, json=body).json()["code"] for body in bodies]
    agree = sum(a == b for a, b in zip(answers["api"], answers["naive"], strict=True))
    print(f"the two services agree on {agree}/{len(bodies)} baskets' classes")
    if agree != len(bodies):
        sys.exit("the baseline answers differently from the API: the comparison would be meaningless")


def _batch_scoring(lake: Path, metrics: dict) -> dict[str, float]:
    """basket_predictions' work (retail_assets.scoring.batch.score_baskets) on the test weeks, in this process, on CPU 0."""
    from retail_assets.scoring.batch import gold_week, score_baskets
    from retail_model.lake import LocalLake
    from retail_model.registry import LakeModelRegistry

    pin(0)
    store = LocalLake(lake)
    registry = LakeModelRegistry(store)
    model = registry.load_model(registry.serving_entry())
    model.prepare()
    weeks = (metrics.get("split", {}).get("test_weeks") or [])[-4:]
    gold = [gold_week(store, int(week)) for week in weeks]
    score_baskets(gold[0].head(200), model)  # warm-up
    started = time.perf_counter()
    baskets = sum(score_baskets(frame, model).height for frame in gold)
    seconds = time.perf_counter() - started
    return {"baskets": baskets, "weeks": len(weeks), "seconds": seconds, "baskets_per_s": baskets / seconds}


if __name__ == "__main__":
    main()
