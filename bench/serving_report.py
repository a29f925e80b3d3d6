"""What bench/serve.py prints: every pair of runs, each configuration's median figures, the
median pair ratios against issue 18's targets, and what the prediction log cost."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from bench.serving_runs import median_ratios, medians, side

TARGETS = {"rps": 5000.0, "p99_ms": 5.0, "ratio": 25.0, "batch_baskets_per_s": 25000.0,
           "capture_rps_share": 0.90, "capture_p99_factor": 2.0, "explain_rps_share": 0.80}  # fmt: skip
NAMES = {"api_off": "retail_api  /v1/predict        capture off", "api": "retail_api  /v1/predict        capture 100%",
         "explain": "retail_api  /v1/predict        explain 3", "naive": "naive       /v1/predict",
         "batch_off": "retail_api  /v1/predict/batch  capture off", "batch": "retail_api  /v1/predict/batch  capture 100%"}  # fmt: skip


def machine(when: str = "before") -> str:
    load = os.getloadavg()[0]
    note = "" if load < 0.5 else f"  WARNING: other processes are busy (1-min load {load:.2f}): figures will be low"
    return f"machine: {os.cpu_count()} CPUs, load average {load:.2f} {when} the run; Python {sys.version.split()[0]}{note}"


def print_pairs(title: str, pairs: Sequence[dict], names: tuple[str, str], seconds: int, per: int = 1) -> None:
    """Each pair's runs and ratios (variant / base), then the median ratios. `per`: baskets per request."""
    unit = "req/s" if per == 1 else "baskets/s"
    cost = "µs/req" if per == 1 else "µs/basket"
    print(f"\n{title}: {len(pairs)} pairs of {seconds} s runs, the order alternating; CPU {cost}: API + shipper")
    for number, pair in enumerate(pairs, 1):
        base, variant, ratio = pair["base"], pair["variant"], pair["ratio"]
        first = names[0] if pair["base_first"] else names[1]
        print(
            f"  pair {number} ({first} first): "
            + " | ".join(f"{name} {run['rps'] * per:7,.0f} {unit}, p99 {run['p99'] / 1e3:6.2f} ms, CPU {run['api_cpu_us_per_request'] / per:,.1f} + {run['shipper_cpu_us_per_request'] / per:,.1f}"
                         for name, run in zip(names, (base, variant), strict=True))
            + f" | {names[1]}/{names[0]} {ratio['rps']:4.0%}, p99 {ratio['p99']:.2f}x, CPU {ratio['cpu']:.2f}x; load {pair['load']:.2f}"
        )  # fmt: skip
    median = median_ratios(pairs)
    print(f"  median of the {len(pairs)} pair ratios, {names[1]}/{names[0]}: {median['rps']:.0%} of the {unit}, p99 {median['p99']:.2f}x, "
          f"CPU {median['cpu']:.2f}x (API process {median['api_cpu']:.2f}x)")  # fmt: skip


def print_rows(rows: dict[str, dict], runs: str) -> None:
    """Each configuration's figures: the median over its runs (errors summed); `runs` says how many."""
    print(f"\neach configuration's figures, the median of its runs ({runs}; errors summed):")
    print(f"{'':40s} {'req/s':>8s} {'p50 ms':>7s} {'p90 ms':>7s} {'p99 ms':>7s} {'errors':>6s} "
          f"{'CPU µs/req: API':>15s} {'shipper':>8s} {'CPU share':>9s}")  # fmt: skip
    for key, r in rows.items():
        print(
            f"{NAMES[key]:40s} {r['rps']:8,.0f} {r['p50'] / 1e3:7.2f} {r['p90'] / 1e3:7.2f} {r['p99'] / 1e3:7.2f} {r['errors']:6d} "
            f"{r['api_cpu_us_per_request']:15,.0f} {r['shipper_cpu_us_per_request']:8,.0f} {r['cpu_share']:9.0%}"
        )


def explain_line(pairs: Sequence[dict]) -> str:
    api, explained, median = medians(side(pairs, "base")), medians(side(pairs, "variant")), median_ratios(pairs)
    return (f"explain 3 / no explanation (both capture 100%), median of {len(pairs)} pairs: {median['rps']:.0%} of the requests/s "
            f"(target >= {TARGETS['explain_rps_share']:.0%}); API CPU per request {api['api_cpu_us_per_request']:,.0f} -> "
            f"{explained['api_cpu_us_per_request']:,.0f} µs (medians; +{explained['api_cpu_us_per_request'] - api['api_cpu_us_per_request']:,.0f}; "
            f"median pair ratio {1 / median['api_cpu']:.0%} of the requests per API CPU second)")  # fmt: skip


def report(series: dict[str, list[dict]], batch_size: int, seconds: int, log_rows: dict, scoring: dict) -> None:
    """Everything after the pairs: rows, ratios against the targets, the log's cost, the dedicated-core figures."""
    capture, explain, batch_pairs, naive_pairs = series["capture"], series["explain"], series["batch"], series["naive"]
    rows = {"api_off": medians(side(capture, "base")), "api": medians(side(capture, "variant")),
            "explain": medians(side(explain, "variant")), "naive": medians(side(naive_pairs, "base")),
            "batch_off": medians(side(batch_pairs, "base")), "batch": medians(side(batch_pairs, "variant"))}  # fmt: skip
    print_rows(rows, f"{len(capture)} runs each, the naive service {len(naive_pairs)}")
    api, off, batch, batch_off, naive = rows["api"], rows["api_off"], rows["batch"], rows["batch_off"], rows["naive"]
    capture_ratio, batch_ratio, naive_ratio = median_ratios(capture), median_ratios(batch_pairs), median_ratios(naive_pairs)
    explain_share = median_ratios(explain)["rps"]
    baskets_per_s, baskets_off = batch["rps"] * batch_size, batch_off["rps"] * batch_size
    print(f"\nratio retail_api (capture 100%) / naive, median of {len(naive_pairs)} pairs: {naive_ratio['rps']:.1f}x requests/s")
    print(f"capture 100% / capture off, median of {len(capture)} pairs: {capture_ratio['rps']:.0%} of the requests/s (target >= "
          f"{TARGETS['capture_rps_share']:.0%}), p99 {capture_ratio['p99']:.2f}x (target <= {TARGETS['capture_p99_factor']:.0f}x); "
          f"CPU per request (medians) {off['cpu_us_per_request']:,.0f} -> {api['api_cpu_us_per_request']:,.0f} µs in the API (of which "
          f"{api['threads_cpu_us_per_request']:,.0f} in its log writer thread) + {api['shipper_cpu_us_per_request']:,.0f} µs in the shipper "
          f"({api['shipper_during_us_per_request']:,.0f} during the run, the rest in the {api['catch_up_s']:.1f} s it took to catch up)")  # fmt: skip
    print(explain_line(explain))
    print(f"batch endpoint ({batch_size} per request), medians: {baskets_per_s:,.0f} baskets/s with capture 100%, {baskets_off:,.0f} with "
          f"capture off (target >= {TARGETS['batch_baskets_per_s']:,.0f}; median pair ratio on/off {batch_ratio['rps']:.0%}); CPU per basket "
          f"{batch_off['cpu_us_per_request'] / batch_size:.1f} µs off, {batch['api_cpu_us_per_request'] / batch_size:.1f} µs in the API (of "
          f"which {batch['threads_cpu_us_per_request'] / batch_size:.1f} in its log writer thread) + "
          f"{batch['shipper_cpu_us_per_request'] / batch_size:.1f} µs in the shipper on ({batch['shipper_during_us_per_request'] / batch_size:.1f} "
          f"during the run, caught up {batch['catch_up_s']:.1f} s after it)")  # fmt: skip
    print(f"basket_predictions (batch scoring with top-3 explanations, in-process, CPU 0): {scoring['baskets_per_s']:,.0f} baskets/s "
          f"({scoring['baskets']:,} baskets of {scoring['weeks']} test weeks in {scoring['seconds']:.2f} s) = "
          f"{scoring['baskets_per_s'] / baskets_per_s:.2f}x the batch endpoint with capture")  # fmt: skip
    print(f"prediction log of the capture server: {log_rows['captured']:,.0f} rows captured, {log_rows['written']:,.0f} written to "
          f"the lake by the shipper ({log_rows['catch_up_s']:.1f} s after the last run), {log_rows['dropped']:,.0f} dropped; the shipper's "
          f"CPU for all of it, catch-up included: {log_rows['shipper_cpu_s']:.1f} s = "
          f"{log_rows['shipper_cpu_s'] * 1e6 / max(log_rows['written'], 1):.1f} µs per row written")  # fmt: skip
    idle = max((run["idle_cpu_ms"], run["idle_server"]) for pairs in series.values() for pair in pairs for run in (pair["base"], pair["variant"]))
    print(f"the servers not under load (shippers caught up) used at most {idle[0]:.0f} ms of CPU during another's {seconds} s run ({idle[1]})")
    print(
        f"on a dedicated core (1 s of CPU / CPU per request, API + shipper, medians): retail_api {1e6 / api['cpu_us_per_request']:,.0f} req/s "
        f"({1e6 / off['cpu_us_per_request']:,.0f} capture off), naive {1e6 / naive['cpu_us_per_request']:,.0f} req/s, batch "
        f"{1e6 / batch['cpu_us_per_request'] * batch_size:,.0f} baskets/s ({1e6 / batch_off['cpu_us_per_request'] * batch_size:,.0f} capture off)"
    )
    checks = [
        (f"single basket >= {TARGETS['rps']:,.0f} req/s", api["rps"] >= TARGETS["rps"]),
        (f"p99 <= {TARGETS['p99_ms']:.0f} ms", api["p99"] / 1e3 <= TARGETS["p99_ms"]),
        (f">= {TARGETS['ratio']:.0f}x the naive baseline", naive_ratio["rps"] >= TARGETS["ratio"]),
        (f"batch >= {TARGETS['batch_baskets_per_s']:,.0f} baskets/s", baskets_per_s >= TARGETS["batch_baskets_per_s"]),
        (f"capture on >= {TARGETS['capture_rps_share']:.0%} of off", capture_ratio["rps"] >= TARGETS["capture_rps_share"]),
        (f"capture on p99 <= {TARGETS['capture_p99_factor']:.0f}x off", capture_ratio["p99"] <= TARGETS["capture_p99_factor"]),
        (f"explain >= {TARGETS['explain_rps_share']:.0%} of no explanation", explain_share >= TARGETS["explain_rps_share"]),
    ]
    print("targets: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in checks))
