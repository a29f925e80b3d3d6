"""What a 500-basket batch request costs in the API's process, from feature dicts and from the baskets' columns.

    .venv/bin/python bench/batch_path.py --lake ~/.cache/retail-mlops/bench-serve-26x2000/lake

The released model of the lake scores its test weeks' baskets in batches of 500 (the ordinary mix
bench/serve.py sends) through the batch endpoint's steps, without HTTP: decode the body, then
features and scores either the way the endpoint did before (`basket_features` for each basket,
then `model.score` of the dicts) or the way it does now (`model.score_baskets`: the baskets
straight to the scorer's CSR parts). Every batch's answers are checked equal first. Each step is
timed in blocks over every batch, in this thread's CPU time, the blocks of each kind alternating;
the median block of each is printed in µs per basket, with the two paths' totals (decode +
features + score) and their ratio, and the endpoint's whole answer (`predict_many` + encoding).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec  # noqa: E402

from bench.in_process import median_blocks, served_model  # noqa: E402
from bench.serve import _bodies, _released_model  # noqa: E402
from retail_api.decoding import RequestDecoder  # noqa: E402
from retail_api.predict import predict_many  # noqa: E402
from retail_api.schemas import BatchIn  # noqa: E402
from retail_model import basket_features  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", required=True, help="a lake with a released model (bench/serve.py builds one)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--blocks", type=int, default=15, help="timed blocks of each kind")
    args = parser.parse_args()
    lake = Path(args.lake).expanduser().resolve()
    _, version, metrics = _released_model(lake)
    _, held_out = _bodies(lake, metrics, 18, args.batch_size)
    model = served_model(lake)
    size = args.batch_size
    bodies = [json.dumps({"baskets": held_out[i : i + size]}).encode() for i in range(0, len(held_out) - size + 1, size)]
    decode, encode = RequestDecoder(BatchIn).decode, msgspec.json.Encoder().encode  # the endpoint's decoder and encoder
    batches = [decode(body) for body in bodies]
    baskets = [batch.baskets for batch in batches]
    for each in baskets:
        if model.score_baskets(each) != model.score(list(map(basket_features, each))):
            sys.exit("the two paths disagree on a batch: fix that before timing them")

    def before(items: list) -> None:  # the endpoint's features and scores until this change
        model.score(list(map(basket_features, items)))

    kinds: dict[str, tuple[Callable, list]] = {
        "decode": (decode, bodies),
        "features + score, from feature dicts (before)": (before, baskets),
        "  of which features (basket_features)": (lambda items: list(map(basket_features, items)), baskets),
        "features + score, from the baskets' columns (now)": (model.score_baskets, baskets),
        "  of which columns (FeatureSpace.gather_baskets)": (model.scorer.space.gather_baskets, baskets),
        "the endpoint's answer now (predict_many + encode)": (lambda batch: encode(predict_many(model, batch, "id")[0]), batches),
    }
    median = median_blocks(kinds, args.blocks, units_per_input=size)
    print(f"model {version}: {metrics.get('winner')} ({model.scorer!r}), {len(bodies)} batches of {size} test-week baskets, "
          f"{args.blocks} blocks of each; 1-min load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    for name, value in median.items():
        print(f"{name:60s} {value:7.2f} µs per basket")
    dicts, columns = median["features + score, from feature dicts (before)"], median["features + score, from the baskets' columns (now)"]
    old, new, scoring_ratio = median["decode"] + dicts, median["decode"] + columns, dicts / columns
    print(f"features + score: {scoring_ratio:.2f}x faster; decode + features + score: {old:.2f} -> {new:.2f} µs per basket "
          f"({old / new:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
