"""Synthetic basket feature tables for the training, artefact and API tests.

The label really depends on the products, as in dunnhumby's data: each class has its own
favourite products, and a basket of that class draws most of its lines from them. Features are
computed with the real `basket_features`, so a model trained here answers API requests built
from the same baskets.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retail_model import Basket, BasketLine, Customer, basket_features

FEATURE_SCHEMA = pa.schema(
    [
        ("basket_id", pa.string()),
        ("shop_week", pa.int32()),
        ("basket_price_sensitivity", pa.string()),
        ("feature_names", pa.list_(pa.string())),
        ("feature_values", pa.list_(pa.float64())),
    ]
)
LABEL_SHARES = {"LA": 0.23, "MM": 0.49, "UM": 0.25, "XX": 0.03}


@dataclass(frozen=True)
class LabelledBasket:
    basket_id: str
    shop_week: int
    code: str
    basket: Basket


def product_code(index: int) -> str:
    return f"PRD{index:07d}"


def favourite_products(code: str, n_products: int) -> list[int]:
    """Products 0..3/4 of the catalogue are split between the classes; the rest are neutral."""
    position = ("LA", "MM", "UM").index(code)
    return [i for i in range(n_products * 3 // 4) if i % 3 == position]


def make_line(index: int, rng: random.Random) -> BasketLine:
    return BasketLine(
        prod_code=product_code(index),
        prod_code_10=f"CL{index // 5:05d}",
        prod_code_20=f"DEP{index // 50:05d}",
        prod_code_30=f"G{index // 200:05d}",
        prod_code_40=f"D{index // 1000:05d}",
        quantity=rng.randint(1, 3),
        spend=round(rng.uniform(0.3, 6.0), 2),
    )


def make_basket(code: str, shop_week: int, rng: random.Random, n_products: int = 300, favourite_share: float = 0.7) -> Basket:
    favourites = favourite_products(code, n_products) if code in ("LA", "MM", "UM") else []
    lines = []
    for _ in range(max(1, int(rng.expovariate(1 / 6.5)))):
        pool = favourites if favourites and rng.random() < favourite_share else range(n_products)
        lines.append(make_line(rng.choice(pool), rng))
    week_start = date(2008, 1, 7) + timedelta(weeks=shop_week % 100 - 1)
    anonymous = rng.random() < 0.2
    return Basket(
        shop_date=week_start + timedelta(days=rng.randint(0, 6)),
        shop_hour=rng.randint(8, 21),
        store_code=f"STORE{rng.randint(1, 40):05d}",
        store_format=rng.choice(["LS", "MS", "SS", "XLS"]),
        store_region=rng.choice(["E01", "E02", "N01", "S02", "W03"]),
        basket_size=rng.choice(["S", "M", "L"]),
        basket_type=rng.choice(["Small Shop", "Top Up", "Full Shop"]),
        basket_dominant_mission=rng.choice(["Fresh", "Grocery", "Mixed", "Nonfood"]),
        customer=None if anonymous else Customer(f"CUST{rng.randint(1, 500):010d}", rng.choice(["LA", "MM", "UM"]), rng.choice(["YA", "OA", "OT"])),
        lines=tuple(lines),
    )


def synthetic_baskets(
    n_baskets: int,
    weeks: list[int],
    seed: int = 0,
    n_products: int = 300,
    codes: tuple[str, ...] | None = None,
    favourite_share: float = 0.7,
) -> list[LabelledBasket]:
    rng = random.Random(seed)
    label_codes, shares = zip(*LABEL_SHARES.items(), strict=True)
    baskets = []
    for number in range(n_baskets):
        code = rng.choice(codes) if codes else rng.choices(label_codes, shares)[0]
        week = weeks[number * len(weeks) // n_baskets]  # equal weeks, in time order
        basket = make_basket(code, week, rng, n_products, favourite_share)
        baskets.append(LabelledBasket(f"B{seed:03d}{number:08d}", week, code, basket))
    return baskets


def feature_table(baskets: list[LabelledBasket]) -> pa.Table:
    features = [basket_features(item.basket) for item in baskets]
    return pa.Table.from_pydict(
        {
            "basket_id": [item.basket_id for item in baskets],
            "shop_week": [item.shop_week for item in baskets],
            "basket_price_sensitivity": [item.code for item in baskets],
            "feature_names": [list(f) for f in features],
            "feature_values": [list(f.values()) for f in features],
        },
        schema=FEATURE_SCHEMA,
    )


def write_channel(directory: Path, baskets: list[LabelledBasket]) -> Path:
    """One Hive-style folder per week, as the feature asset writes them (nested on purpose)."""
    table = feature_table(baskets)
    for week in sorted({item.shop_week for item in baskets}):
        part = table.filter(pc.equal(table["shop_week"], week))
        folder = directory / f"shop_week={week}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, folder / "part-0.parquet")
    return directory


def request_body(item: LabelledBasket) -> dict:
    """The API's JSON body for a synthetic basket."""
    basket = item.basket
    customer = basket.customer
    return {
        "basket_id": item.basket_id,
        "shop_date": basket.shop_date.isoformat(),
        "shop_hour": basket.shop_hour,
        "store_code": basket.store_code,
        "store_format": basket.store_format,
        "store_region": basket.store_region,
        "basket_size": basket.basket_size,
        "basket_type": basket.basket_type,
        "basket_dominant_mission": basket.basket_dominant_mission,
        **({"customer": {"code": customer.code, "price_sensitivity": customer.price_sensitivity, "lifestage": customer.lifestage}} if customer else {}),
        "lines": [
            {
                "prod_code": line.prod_code,
                "prod_code_10": line.prod_code_10,
                "prod_code_20": line.prod_code_20,
                "prod_code_30": line.prod_code_30,
                "prod_code_40": line.prod_code_40,
                "quantity": line.quantity,
                "spend": line.spend,
            }
            for line in basket.lines
        ],
    }


TRAIN_WEEKS = [200801, 200802, 200803, 200804, 200805, 200806]
TEST_WEEKS = [200807, 200808]


def write_train_test(root: Path, n_train: int = 1800, n_test: int = 600, seed: int = 0) -> tuple[Path, Path, list[LabelledBasket]]:
    """Train and test channels cut by time, as the training asset hands them over."""
    train = synthetic_baskets(n_train, TRAIN_WEEKS, seed=seed)
    test = synthetic_baskets(n_test, TEST_WEEKS, seed=seed + 1)
    return write_channel(root / "train", train), write_channel(root / "test", test), test


def run_entrypoint(
    model_dir: Path,
    train_dir: Path,
    test_dir: Path,
    hyperparameters: str = "{}",
    args: tuple[str, ...] = (),
    output_data_dir: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run the training entrypoint as SageMaker would: a fresh process with SM_* variables."""
    env = {
        **os.environ,
        "SM_MODEL_DIR": str(model_dir),
        "SM_CHANNEL_TRAIN": str(train_dir),
        "SM_CHANNEL_TEST": str(test_dir),
        "SM_HPS": hyperparameters,
    }
    if output_data_dir is not None:
        env["SM_OUTPUT_DATA_DIR"] = str(output_data_dir)
    return subprocess.run(
        [sys.executable, "-m", "retail_training.entrypoint", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# One training per seed and test process: a dozen test modules need "a trained model", not a
# training of their own (each took 8-20 s on a 2-core machine). Each caller gets its own copy.
_TRAINED: dict[int, tuple[Path, list[LabelledBasket]]] = {}


def train_small_model(root: Path, seed: int = 0) -> tuple[Path, list[LabelledBasket]]:
    """A logistic-regression model trained in-process, copied to `root/model`, plus the held-out test baskets.

    The model is trained once per seed in a test session (in a private directory removed at exit)
    and copied for each caller, so a test may change its copy without touching anyone else's."""
    if seed not in _TRAINED:
        _TRAINED[seed] = _train(Path(tempfile.mkdtemp(prefix=f"small-model-{seed}-")), seed)
        atexit.register(shutil.rmtree, _TRAINED[seed][0].parent, ignore_errors=True)
    trained, test = _TRAINED[seed]
    model_dir = root / "model"
    shutil.copytree(trained, model_dir)
    return model_dir, list(test)


def _train(root: Path, seed: int) -> tuple[Path, list[LabelledBasket]]:
    from retail_training.entrypoint import main

    train_dir, test_dir, test = write_train_test(root / "channels", seed=seed)
    model_dir = root / "model"
    environ = {
        "SM_MODEL_DIR": str(model_dir),
        "SM_CHANNEL_TRAIN": str(train_dir),
        "SM_CHANNEL_TEST": str(test_dir),
        "SM_HPS": '{"candidates": "logistic_regression"}',
    }
    if main([], environ) != 0:
        raise RuntimeError("training the test model failed; see stderr")
    return model_dir, test
