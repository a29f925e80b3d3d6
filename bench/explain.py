"""What an explained single-basket request costs in the API's process, part by part, beside the same request without.

    .venv/bin/python bench/explain.py --lake ~/.cache/retail-mlops/bench-serve-26x2000/lake

The released model of the lake answers its test weeks' 18-line baskets (as bench/serve.py sends
them) through the endpoint's own steps, without HTTP: decode, features, score, answer, encode;
and the same with `"explain": 3`. Each step is timed in blocks over every basket, in this
thread's CPU time (time another process takes on the core is not counted), the blocks of each
kind alternating; the median block of each is printed in µs per basket, with the explained
request's extra and the ratio of the two.
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
from retail_api.explanations import scored_and_explained  # noqa: E402
from retail_api.predict import predict_one  # noqa: E402
from retail_api.schemas import BasketIn, PredictionOut, Probabilities  # noqa: E402
from retail_model import basket_features  # noqa: E402
from retail_model.labels import CLASS_BY_CODE  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", required=True, help="a lake with a released model (bench/serve.py builds one)")
    parser.add_argument("--blocks", type=int, default=15, help="timed blocks of each kind")
    args = parser.parse_args()
    lake = Path(args.lake).expanduser().resolve()
    _, version, metrics = _released_model(lake)
    single, _ = _bodies(lake, metrics, 18, 500)
    model = served_model(lake)
    decode, encode = RequestDecoder(BasketIn).decode, msgspec.json.Encoder().encode  # the endpoint's decoder
    plain = [json.dumps(body).encode() for body in single]
    explained = [json.dumps(body | {"explain": 3}).encode() for body in single]
    baskets = [decode(body) for body in plain]
    rows = [basket_features(basket) for basket in baskets]
    answers = {}

    def answer(body: bytes) -> bytes:  # retail_api.predict's steps for one basket
        return encode(predict_one(model, decode(body), "id")[0])

    for row in rows:
        code, scored, explanation = scored_and_explained(model, row, 3, "$.explain")
        answers[id(row)] = PredictionOut("b", CLASS_BY_CODE[code], code, Probabilities(*scored), version, "id", explanation)
    kinds: dict[str, tuple[Callable, list]] = {
        "request without explain (decode, features, score, answer, encode)": (answer, plain),
        'request with "explain": 3': (answer, explained),
        "  decode without explain": (decode, plain),
        "  features": (basket_features, baskets),
        "  score": (lambda row: model.score([row]), rows),
        "  score and explain, one pass (model.score_explained)": (lambda row: model.score_explained(row, 3), rows),
        "  the same, as the answer's structs (scored_and_explained)": (lambda row: scored_and_explained(model, row, 3, "$"), rows),
        "  encode an answer with its explanation": (lambda row: encode(answers[id(row)]), rows),
    }
    median = median_blocks(kinds, args.blocks)
    print(f"model {version}: {metrics.get('winner')}, {len(single)} 18-line baskets, {args.blocks} blocks of each; "
          f"1-min load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    for name, value in median.items():
        print(f"{name:70s} {value:8.1f} µs")
    without, with_explain = median[next(iter(kinds))], median['request with "explain": 3']
    print(f"explain 3 adds {with_explain - without:.1f} µs to {without:.1f} µs a request: {without / with_explain:.0%} of the requests "
          f"per CPU second in these steps (the HTTP server's own work, the same for both, comes on top)")  # fmt: skip


if __name__ == "__main__":
    main()
