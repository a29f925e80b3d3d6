"""Serving benchmark: the real API under wrk, against a naive FastAPI + pandas + scikit-learn service.

    .venv/bin/python bench/serve.py                      # builds (once) a 104-week lake, then measures
    .venv/bin/python bench/serve.py --lake .retail       # or serve the model of an existing lake

Both services run with uvicorn, one worker, pinned to CPU 0; wrk (one thread, 16 connections) runs
on CPU 1 and posts real baskets from the model's held-out test weeks, round robin, for a fixed
time. The API runs as in production: API key on, metrics on, the prediction log capturing 100%
(its shipper process, a child of the API, shares CPU 0; its CPU is printed beside the API's);
the single-basket and batch runs are repeated with the prediction log off, and the single-basket
run once more answering with `"explain": 3`. `--only explain` runs just that pair, on one server,
and prints its ratio (for iterating on explanations: a minute instead of several). One service
runs at a time. Before timing, both
answer the same baskets and must agree on every class. Printed: requests/s, p50/p90/p99 and CPU
per request (API process, shipper) for each, the ratios against the targets (capture on/off,
explain/no explain, API/naive, batch baskets/s), and basket_predictions' batch scoring baskets/s
(in this process, pinned to CPU 0, on the test weeks). Method and figures: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
KEY = "bench-key"
TARGETS = {"rps": 5000.0, "p99_ms": 5.0, "ratio": 25.0, "batch_baskets_per_s": 25000.0,
           "capture_rps_share": 0.90, "capture_p99_factor": 2.0, "explain_rps_share": 0.80}
LUA = """
local bodies, key, counter = {}, nil, 0
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  key = args[2]
end
function request()
  counter = counter + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["X-API-Key"] = key}, bodies[counter % #bodies + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50": %d, "p90": %d, "p99": %d, "max": %d}\\n', summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
"""


def main() -> None:
    args = _arguments()
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("bench/serve.py needs wrk, the HTTP load generator: `sudo apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk`")
    lake = Path(args.lake).resolve() if args.lake else _build_lake(args.weeks, args.baskets_per_week)
    model_dir, version, metrics = _released_model(lake)
    single, batch = _bodies(lake, metrics, args.lines, args.batch_size)
    print(_machine())
    print(f"model {version}: {metrics.get('winner')}, {metrics.get('n_features', '?')} features, trained on "
          f"{metrics.get('n_train', 0):,} baskets of {len(metrics.get('split', {}).get('train_weeks', []))} weeks, "
          f"test macro-F1 {metrics.get('macro_f1', float('nan')):.3f}")  # fmt: skip
    print(f"requests: {len(single)} real {args.lines}-line baskets from the test weeks; batches of {args.batch_size} baskets\n")
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as scratch:
        work = Path(scratch)
        (work / "post.lua").write_text(LUA)
        _write_lines(work / "single.txt", single)
        _write_lines(work / "explain.txt", [body | {"explain": 3} for body in single])
        _write_lines(work / "batch.txt", [{"baskets": batch[i : i + args.batch_size]} for i in range(0, len(batch), args.batch_size)])
        api_env = {"RETAIL_LAKE": str(lake), "RETAIL_API_KEY": KEY, "RETAIL_MODEL_POLL_SECONDS": "5"}
        api_command = [str(BIN / "python"), "-m", "uvicorn", "retail_api.app:create_app", "--factory",
                       "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
        if args.only == "explain":
            results = _explain_pair(wrk, work, args, api_command, api_env)
            _print_rows(results, ("api", "explain"))
            print("\n" + _explain_line(results["api"], results["explain"]))
            print(_machine().replace("before the run", "after the run"))
            return
        naive_command = [str(BIN / "python"), "-m", "uvicorn", "bench.naive_service:app", "--log-level", "warning"]
        naive_env = {"NAIVE_MODEL_DIR": str(model_dir)}
        _check_agreement(api_command, api_env, naive_command, naive_env, single[:50])
        results = {}
        # Capture off first, then on: the same binary and model, only RETAIL_PREDICTION_LOG differs.
        with _server(api_command, api_env | {"RETAIL_PREDICTION_LOG": "false"}) as (base, pid):
            results["api_off"] = _wrk(wrk, work, base + "/v1/predict", "single.txt", args.seconds, args.connections, pid)
            results["batch_off"] = _wrk(wrk, work, base + "/v1/predict/batch", "batch.txt", args.seconds, args.connections, pid)
        with _server(api_command, api_env | {"RETAIL_PREDICTION_LOG_CAPTURE_PERCENT": "100"}) as (base, pid):
            shipper_started = _cpu_seconds(*_children(pid))
            # Each run starts with the spool empty and is charged the shipping of its own rows,
            # catch-up included: no run pays for the backlog of the one before it.
            results["api"] = _wrk(wrk, work, base + "/v1/predict", "single.txt", args.seconds, args.connections, pid, base)
            results["explain"] = _wrk(wrk, work, base + "/v1/predict", "explain.txt", args.seconds, args.connections, pid, base)
            results["batch"] = _wrk(wrk, work, base + "/v1/predict/batch", "batch.txt", args.seconds, args.connections, pid, base)
            log_rows = _drain_log(base)
            log_rows["shipper_cpu_s"] = _cpu_seconds(*_children(pid)) - shipper_started  # its runs and its catch-up
        with _server(naive_command, naive_env) as (base, pid):
            results["naive"] = _wrk(wrk, work, base + "/v1/predict", "single.txt", args.seconds, args.connections, pid)
    scoring = _batch_scoring(lake, metrics)
    _report(results, args, log_rows, scoring)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", help="serve the released model of this lake (default: build one, cached)")
    parser.add_argument("--weeks", type=int, default=104, help="weeks of sample data for the built lake")
    parser.add_argument("--baskets-per-week", type=int, default=4500)
    parser.add_argument("--seconds", type=int, default=15, help="duration of each timed run")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (clients)")
    parser.add_argument("--lines", type=int, default=18, help="lines per basket of the single-basket requests")
    parser.add_argument("--batch-size", type=int, default=500, help="baskets per batch request")
    parser.add_argument("--only", choices=["explain"], help='only the single-basket runs without and with "explain": 3, and their ratio')
    return parser.parse_args()


def _explain_pair(wrk: str, work: Path, args: argparse.Namespace, api_command: list[str], api_env: dict[str, str]) -> dict:
    """The single-basket runs without and with `"explain": 3`, on one server with capture 100%, as in the full run."""
    with _server(api_command, api_env | {"RETAIL_PREDICTION_LOG_CAPTURE_PERCENT": "100"}) as (base, pid):
        results = {"api": _wrk(wrk, work, base + "/v1/predict", "single.txt", args.seconds, args.connections, pid, base)}
        results["explain"] = _wrk(wrk, work, base + "/v1/predict", "explain.txt", args.seconds, args.connections, pid, base)
    return results


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


@contextmanager
def _server(command: list[str], env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """A uvicorn server pinned to CPU 0 on a free port; stopped by its pid (SIGTERM, then SIGKILL)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)], env={**os.environ, **env}, cwd=ROOT,
        start_new_session=True, preexec_fn=lambda: _pin(0),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                sys.exit(f"{command} exited with code {process.returncode}")
            try:
                if httpx.post(base + "/v1/predict", content=b"{}", headers={"X-API-Key": KEY}, timeout=2).status_code == 422:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        yield base, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)  # the API writes its queued predictions before it exits
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _pin(cpu: int) -> None:
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {cpu})


def _check_agreement(api_command, api_env, naive_command, naive_env, bodies: list[dict]) -> None:
    answers = {}
    for name, command, env in (("api", api_command, api_env), ("naive", naive_command, naive_env)):
        with _server(command, env) as (base, _), httpx.Client(base_url=base, headers={"X-API-Key": KEY}, timeout=30) as http:
            answers[name] = [http.post("/v1/predict", json=body).json()["code"] for body in bodies]
    agree = sum(a == b for a, b in zip(answers["api"], answers["naive"], strict=True))
    print(f"the two services agree on {agree}/{len(bodies)} baskets' classes")
    if agree != len(bodies):
        sys.exit("the baseline answers differently from the API: the comparison would be meaningless")


def _wrk(wrk: str, work: Path, url: str, bodies: str, seconds: int, connections: int, server_pid: int, log: str | None = None) -> dict:
    """One timed wrk run after a warm-up. With `log` (the base URL of a server that captures), the
    run starts once the shipper has sent every row before it, and its shipper CPU is counted until
    the shipper has sent the run's own rows too (the seconds that takes after the run: `catch_up_s`)."""

    def command(duration: int) -> list[str]:
        return [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(work / "post.lua"), url,
                "--", str(work / bodies), KEY]  # fmt: skip

    subprocess.run(command(2), capture_output=True, check=True, preexec_fn=lambda: _pin(1))  # warm-up
    if log is not None:
        _drain_log(log)
    api_before, shipper_before = _cpu_seconds(server_pid), _cpu_seconds(*_children(server_pid))
    threads_before = _thread_cpu_seconds(server_pid)
    run = subprocess.run(command(seconds), capture_output=True, text=True, check=True, preexec_fn=lambda: _pin(1))
    result = json.loads(re.search(r"WRK_JSON (\{.*\})", run.stdout)[1])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    # The server's own CPU time per request does not depend on how much of its core it was given:
    # on a machine shared with other work, it says what a dedicated core would sustain. The API
    # process and its children (the log shipper) are counted apart, then together.
    requests = max(result["requests"], 1)
    result["api_cpu_us_per_request"] = (_cpu_seconds(server_pid) - api_before) * 1e6 / requests
    # Of the API's CPU, its threads but the event loop's: the prediction log's writer (and the model poller, idle here).
    result["threads_cpu_us_per_request"] = (_thread_cpu_seconds(server_pid) - threads_before) * 1e6 / requests
    result["shipper_during_us_per_request"] = (_cpu_seconds(*_children(server_pid)) - shipper_before) * 1e6 / requests
    result["catch_up_s"] = _drain_log(log)["catch_up_s"] if log is not None else 0.0
    result["shipper_cpu_us_per_request"] = (_cpu_seconds(*_children(server_pid)) - shipper_before) * 1e6 / requests
    result["cpu_us_per_request"] = result["api_cpu_us_per_request"] + result["shipper_cpu_us_per_request"]
    # The share of a core the server had during the run (the shipper's catch-up after it left out).
    result["cpu_share"] = (result["api_cpu_us_per_request"] + result["shipper_during_us_per_request"]) * result["requests"] / result["duration_us"]
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    return result


def _cpu_seconds(*pids: int) -> float:
    """User + system CPU time of these processes (all their threads), from /proc."""
    return sum(_stat_cpu_seconds(Path(f"/proc/{process}/stat")) for process in pids)


def _thread_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process's threads other than its main one (the event loop)."""
    tasks = [task for task in Path(f"/proc/{pid}/task").glob("*") if task.name != str(pid)]
    return sum(_stat_cpu_seconds(task / "stat") for task in tasks)


def _stat_cpu_seconds(stat: Path) -> float:
    """utime + stime of one /proc stat file; 0 for a process or thread that has gone."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ValueError):
            continue
    return found + [grandchild for child in found for grandchild in _children(child)]


def _log_rows(metrics: str) -> dict[str, float]:
    rows = {"captured": 0.0, "written": 0.0, "dropped": 0.0, "spool_bytes": 0.0}
    for line in metrics.splitlines():
        for name in rows:
            if line.startswith((f"retail_api_prediction_log_rows_{name}_total", f"retail_api_prediction_log_{name} ")):
                rows[name] += float(line.rsplit(" ", 1)[1])
    return rows


def _drain_log(base: str, limit: float = 120.0) -> dict[str, float]:
    """The prediction log's counters once the shipper has caught up (or after `limit` seconds)."""
    started = time.monotonic()
    while True:
        rows = _log_rows(httpx.get(base + "/metrics", timeout=10).text)
        if rows["written"] + rows["dropped"] >= rows["captured"] or time.monotonic() - started > limit:
            rows["catch_up_s"] = time.monotonic() - started
            return rows
        time.sleep(0.5)


def _batch_scoring(lake: Path, metrics: dict) -> dict[str, float]:
    """basket_predictions' work (retail_assets.scoring.batch.score_baskets) on the test weeks, in this process, on CPU 0."""
    from retail_assets.scoring.batch import gold_week, score_baskets
    from retail_model.lake import LocalLake
    from retail_model.registry import LakeModelRegistry

    _pin(0)
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


def _machine() -> str:
    load = os.getloadavg()[0]
    note = "" if load < 0.5 else f"  WARNING: other processes are busy (1-min load {load:.2f}): figures will be low"
    return f"machine: {os.cpu_count()} CPUs, load average {load:.2f} before the run; Python {sys.version.split()[0]}{note}"


_NAMES = {"api_off": "retail_api  /v1/predict        capture off", "api": "retail_api  /v1/predict        capture 100%",
          "explain": "retail_api  /v1/predict        explain 3", "naive": "naive       /v1/predict",
          "batch_off": "retail_api  /v1/predict/batch  capture off", "batch": "retail_api  /v1/predict/batch  capture 100%"}  # fmt: skip


def _print_rows(results: dict, keys: tuple[str, ...]) -> None:
    print(f"\n{'':40s} {'req/s':>8s} {'p50 ms':>7s} {'p90 ms':>7s} {'p99 ms':>7s} {'errors':>6s} "
          f"{'CPU µs/req: API':>15s} {'shipper':>8s} {'CPU share':>9s}")  # fmt: skip
    for key in keys:
        r = results[key]
        print(
            f"{_NAMES[key]:40s} {r['rps']:8,.0f} {r['p50'] / 1e3:7.2f} {r['p90'] / 1e3:7.2f} {r['p99'] / 1e3:7.2f} {r['errors']:6d} "
            f"{r['api_cpu_us_per_request']:15,.0f} {r['shipper_cpu_us_per_request']:8,.0f} {r['cpu_share']:9.0%}"
        )


def _explain_line(api: dict, explained: dict) -> str:
    share = explained["rps"] / api["rps"]
    return (f"explain 3 / no explanation (both capture 100%): {share:.0%} of the requests/s (target >= {TARGETS['explain_rps_share']:.0%}); "
            f"API CPU per request {api['api_cpu_us_per_request']:,.0f} -> {explained['api_cpu_us_per_request']:,.0f} µs "
            f"(+{explained['api_cpu_us_per_request'] - api['api_cpu_us_per_request']:,.0f}; their ratio "
            f"{api['api_cpu_us_per_request'] / explained['api_cpu_us_per_request']:.0%})")  # fmt: skip


def _report(results: dict, args: argparse.Namespace, log_rows: dict, scoring: dict) -> None:
    _print_rows(results, ("api_off", "api", "explain", "naive", "batch_off", "batch"))
    api, naive, batch, off, explained = results["api"], results["naive"], results["batch"], results["api_off"], results["explain"]
    ratio = api["rps"] / naive["rps"]
    baskets_per_s, baskets_off = batch["rps"] * args.batch_size, results["batch_off"]["rps"] * args.batch_size
    capture_share, capture_p99 = api["rps"] / off["rps"], api["p99"] / max(off["p99"], 1)
    explain_share = explained["rps"] / api["rps"]
    print(f"\nratio retail_api / naive: {ratio:.1f}x requests/s")
    print(f"capture 100% / capture off: {capture_share:.0%} of the requests/s (target >= {TARGETS['capture_rps_share']:.0%}), "
          f"p99 {capture_p99:.2f}x (target <= {TARGETS['capture_p99_factor']:.0f}x); CPU per request {off['cpu_us_per_request']:,.0f} -> "
          f"{api['api_cpu_us_per_request']:,.0f} µs in the API (of which {api['threads_cpu_us_per_request']:,.0f} in its log writer thread) + "
          f"{api['shipper_cpu_us_per_request']:,.0f} µs in the shipper ({api['shipper_during_us_per_request']:,.0f} during the run, "
          f"the rest in the {api['catch_up_s']:.1f} s it took to catch up)")  # fmt: skip
    print(_explain_line(api, explained))
    print(f"batch endpoint ({args.batch_size} per request): {baskets_per_s:,.0f} baskets/s with capture 100%, {baskets_off:,.0f} with capture off "
          f"(target >= {TARGETS['batch_baskets_per_s']:,.0f}); CPU per basket {results['batch_off']['cpu_us_per_request'] / args.batch_size:.1f} µs off, "
          f"{batch['api_cpu_us_per_request'] / args.batch_size:.1f} µs in the API (of which {batch['threads_cpu_us_per_request'] / args.batch_size:.1f} "
          f"in its log writer thread) + {batch['shipper_cpu_us_per_request'] / args.batch_size:.1f} µs in the shipper on "
          f"({batch['shipper_during_us_per_request'] / args.batch_size:.1f} during the run, caught up {batch['catch_up_s']:.1f} s after it)")  # fmt: skip
    print(f"basket_predictions (batch scoring with top-3 explanations, in-process, CPU 0): {scoring['baskets_per_s']:,.0f} baskets/s "
          f"({scoring['baskets']:,} baskets of {scoring['weeks']} test weeks in {scoring['seconds']:.2f} s) = "
          f"{scoring['baskets_per_s'] / baskets_per_s:.2f}x the batch endpoint with capture")  # fmt: skip
    print(f"prediction log during the API's runs: {log_rows['captured']:,.0f} rows captured, {log_rows['written']:,.0f} written to "
          f"the lake by the shipper ({log_rows['catch_up_s']:.1f} s after the last run), {log_rows['dropped']:,.0f} dropped; the shipper's "
          f"CPU for all of it, catch-up included: {log_rows['shipper_cpu_s']:.1f} s = "
          f"{log_rows['shipper_cpu_s'] * 1e6 / max(log_rows['written'], 1):.1f} µs per row written")  # fmt: skip
    print(
        f"on a dedicated core (1 s of CPU / CPU per request, API + shipper): retail_api {1e6 / api['cpu_us_per_request']:,.0f} req/s "
        f"({1e6 / off['cpu_us_per_request']:,.0f} capture off), naive {1e6 / naive['cpu_us_per_request']:,.0f} req/s, batch "
        f"{1e6 / batch['cpu_us_per_request'] * args.batch_size:,.0f} baskets/s ({1e6 / results['batch_off']['cpu_us_per_request'] * args.batch_size:,.0f} capture off)"
    )
    checks = [
        (f"single basket >= {TARGETS['rps']:,.0f} req/s", api["rps"] >= TARGETS["rps"]),
        (f"p99 <= {TARGETS['p99_ms']:.0f} ms", api["p99"] / 1e3 <= TARGETS["p99_ms"]),
        (f">= {TARGETS['ratio']:.0f}x the naive baseline", ratio >= TARGETS["ratio"]),
        (f"batch >= {TARGETS['batch_baskets_per_s']:,.0f} baskets/s", baskets_per_s >= TARGETS["batch_baskets_per_s"]),
        (f"capture on >= {TARGETS['capture_rps_share']:.0%} of off", capture_share >= TARGETS["capture_rps_share"]),
        (f"capture on p99 <= {TARGETS['capture_p99_factor']:.0f}x off", capture_p99 <= TARGETS["capture_p99_factor"]),
        (f"explain >= {TARGETS['explain_rps_share']:.0%} of no explanation", explain_share >= TARGETS["explain_rps_share"]),
    ]
    print("targets: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in checks))
    print(_machine().replace("before the run", "after the run"))


if __name__ == "__main__":
    main()
