"""What writing the lake's four tables costs on its own, next to the CSV parse floor and the lake work.

    .venv/bin/python bench/write_floor.py                         # ~3 M rows in 115 weekly files
    .venv/bin/python bench/write_floor.py --weeks 30              # a quicker look

Issue 17 asks for the bulk landing (115 weeks, ~3 M lines, landing -> features) within 5x the
parse floor. The lake keeps four tables of it (raw, silver, gold, features: DESIGN's layout,
time travel, training rows), so whatever computes them has to write them. This script measures,
in one process and one run:

- **parse floor**: `pl.read_csv` of every file (best of two passes), as `bench/ingest.py` has it;
- **lake work alone**: the plain functions the assets call, no Dagster (`bench/ingest.py`'s
  `plain` step, each step timed), which builds the lake read below;
- **writes alone**: each of the four tables, already computed (read back into memory, not timed),
  written again into a scratch lake: (a) by the lake's own writer (`retail_model.lake.delta.write`:
  one Parquet file per partition, statistics, one Delta commit), as one frame per table, so
  fewer and larger files than the chunked rebuilds write (a lower bound of theirs); (b) by polars
  alone as one Parquet file per table in memory (no partitions, no statistics query, no commit):
  what encoding the rows costs at least.

Printed: each figure, and each as a multiple of the parse floor. The parse itself plus the four
writes is what any implementation of the layout pays before any rule, join or group-by.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weeks", type=int, default=115)
    parser.add_argument("--baskets-per-week", type=int, default=4100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from ingest import child_floor, child_plain, generate

    with tempfile.TemporaryDirectory(prefix="write-floor-") as scratch:
        root = Path(scratch)
        started = time.perf_counter()
        rows = generate(root / "data", args.weeks, args.baskets_per_week, args.seed)
        print(f"data: {rows:,} rows in {args.weeks} weekly files ({time.perf_counter() - started:.0f} s to generate)")
        floor = min(child_floor(root / "data", root)["seconds"] for _ in range(2))
        plain = child_plain(root / "data", root / "plain")
        print(f"parse floor (pl.read_csv of every file, best of 2): {floor:.2f} s (load {os.getloadavg()[0]:.1f})")
        print(f"lake work alone (no Dagster): {plain['seconds']:.2f} s = {plain['seconds'] / floor:.2f}x the floor; "
              + ", ".join(f"{step} {seconds:.2f} s" for step, seconds in plain["step_seconds"].items()))
        writer, encode = write_tables(root / "plain" / "lake", root / "rewrite")
        for table in writer:
            print(f"  {table:9s} {writer[table]['rows']:>10,} rows: the lake's writer {writer[table]['seconds']:5.2f} s "
                  f"({writer[table]['files']} files), polars' one-file encode {encode[table]:5.2f} s")
        written, encoded = sum(w["seconds"] for w in writer.values()), sum(encode.values())
        print(f"four tables written by the lake's writer: {written:.2f} s = {written / floor:.2f}x the floor; "
              f"encoded by polars alone, one file each: {encoded:.2f} s = {encoded / floor:.2f}x (load {os.getloadavg()[0]:.1f})")
        print(f"parse + the four writes: {1 + written / floor:.2f}x the floor with the lake's writer, "
              f"{1 + encoded / floor:.2f}x with polars' one-file encode; the bulk target is 5x, "
              f"the lake work alone {plain['seconds'] / floor:.2f}x")


def write_tables(lake_root: Path, scratch: Path) -> tuple[dict, dict]:
    from deltalake import CommitProperties

    from retail_assets.ingest.tables import BY_WEEK, RAW
    from retail_assets.lake.tables import BY_REGION_AND_TYPE, FEATURES, GOLD, SILVER
    from retail_model.lake import LocalLake
    from retail_model.lake import delta

    built, target = LocalLake(lake_root), LocalLake(scratch)
    writer, encode = {}, {}
    # Each table partitioned as the lake partitions it (the features table is not).
    for table, partition_by in {RAW: BY_WEEK, SILVER: BY_REGION_AND_TYPE, GOLD: BY_REGION_AND_TYPE, FEATURES: ()}.items():
        frame = pl.read_delta(built.table_uri(table))
        begun = time.perf_counter()
        delta.write(target, table, [frame], partition_by, "overwrite", None, CommitProperties())
        seconds = time.perf_counter() - begun
        writer[table] = {"rows": frame.height, "seconds": seconds, "files": len(list((scratch / table).rglob("*.parquet")))}
        begun = time.perf_counter()
        frame.write_parquet(io.BytesIO(), compression="snappy")
        encode[table] = time.perf_counter() - begun
        del frame
    return writer, encode


if __name__ == "__main__":
    main()
