"""One landed file's lines as text fields: the part of reading a file that depends on its bytes.

Decoding checks, the header's spelling, the physical lines, the independent line count and the
split into fields stay per file; the contract's rules do not depend on the bytes, so
`reader.check_files` runs them once over a whole commit group's fields. A line is split on its
own: a quote left open never swallows the lines after it. `data_lines` is counted from the bytes,
independently of the split, so kept + quarantined = data_lines is a real reconciliation.

Fast path: polars reads the file as one text column per physical line, and lines with no quote
characters (all of them, in practice) are split on commas in one vectorised step; only lines
with quotes go through Python's csv module.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from retail_assets.ingest import contract

BROKEN_SCHEMA = {"source_line": pl.Int64(), "line": pl.String(), "reason": pl.String()}
_BOM = b"\xef\xbb\xbf"
_BLANK = b" \t\r"  # what a blank line may hold; the parser and count_lines agree on it
_LINE_SEPARATOR = "\x1f"
_BEFORE_VALUE = np.frombuffer(b",\n", dtype=np.uint8)
_NEWLINE, _CR, _COMMA = ord("\n"), ord("\r"), ord(",")
_AFTER_VALUE = np.frombuffer(b",\n\r", dtype=np.uint8)  # never in a CSV line we can read fast; a file that holds it takes the slow path


class UnreadableFileError(Exception):
    """The whole file cannot be read as a weekly extract; nothing in it was ingested."""


@dataclass(frozen=True)
class LineCount:
    data_lines: int
    blank_lines: int


@dataclass
class FileFields:
    """A file split into text fields, before any rule: what the rules and the reconciliation need."""

    name: str
    week: int
    strings: pl.DataFrame  # the contract's text columns, source_line, line (null on the fast path), source_file
    broken: pl.DataFrame  # lines that could not be split into fields: source_line, line, reason
    count: LineCount
    column_spelling: str  # "dunnhumby" or "seg"
    ignored_columns: list[str]
    data: bytes  # without its BOM: a quarantined row's text is taken from it when the fast path kept none


def week_of_file(name: str | Path) -> int:
    name = Path(name).name
    match = contract.FILE_NAME_PATTERN.match(name)
    if not match:
        raise UnreadableFileError(f"{name}: weekly files must be named transactions_YYYYWW.csv")
    return int(match["week"])


def count_lines(data: bytes, padded: bool | None = None) -> LineCount:
    """Data lines of a file from its bytes alone (no CSV parsing): every line after the first
    that holds anything but spaces and tabs. The reconciliation check compares the parser against this.

    Only spaces, tabs (and the CR of a CRLF) make a line blank: a line of other whitespace (a
    no-break space, NEL, U+3000, a form feed) is a data line, which the parser quarantines."""
    data = data.removeprefix(_BOM)
    padded = _padded(data) if padded is None else padded
    # numpy over the bytes: `b"\n\n" in data` and `data.count(b"\n")` cost 4-8 ms each on a
    # week's 4 MB (a newline every 150 bytes defeats the substring search), together about a
    # sixth of the time of parsing the file.
    codes = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(codes == _NEWLINE)
    gaps = np.diff(newlines)
    empty_line = bool((gaps == 1).any()) or bool(((gaps == 2) & (codes[newlines[:-1] + 1] == _CR)).any())  # "\n\n", "\n\r\n"
    last = data[newlines[-1] + 1 :] if newlines.size else b""
    empty_line = empty_line or (last != b"" and not last.strip(_BLANK))  # a last line of only a CR, no newline after it
    if not empty_line and not padded:
        # No empty or whitespace-only line can exist: the lines are the newlines.
        lines = newlines.size + (0 if data.endswith(b"\n") or not data else 1)
        return LineCount(max(lines - 1, 0), 0)
    lines = data.split(b"\n")[1:]
    if lines and lines[-1] == b"":
        lines.pop()  # the newline that ends the last line does not start another
    blank = sum(1 for line in lines if not line.strip(_BLANK))
    return LineCount(len(lines) - blank, blank)


def file_fields(name: str, data: bytes) -> FileFields:
    """Split a weekly file's bytes (from a disk or S3) named `name` into text fields, or raise
    UnreadableFileError when the whole file cannot be read (not text, no header, columns missing)."""
    week = week_of_file(name)
    if b"\x00" in data[:4096]:  # a binary file; a NUL further in quarantines its line
        raise UnreadableFileError(f"{name}: binary content (NUL bytes); expected a CSV text file")
    data = data.removeprefix(_BOM)
    first_line = data.split(b"\n", 1)[0].rstrip(b"\r")
    if not first_line.strip():
        raise UnreadableFileError(f"{name}: the file is empty or has no header row")
    header = next(csv.reader([first_line.decode("utf-8", errors="backslashreplace")]))
    canonical, spelling, ignored = _canonical_header(name, header)
    # Columns beyond the contract are ignored; give them unique names so splitting never clashes.
    canonical = [c if c in contract.COLUMNS else f"__ignored_{i}" for i, c in enumerate(canonical)]
    padded = _padded(data)
    count = count_lines(data, padded)
    fields = _clean_file_fields(data, canonical, count)
    if fields is not None:
        broken = pl.DataFrame(schema=BROKEN_SCHEMA)
    else:
        lines = _physical_lines(data)
        body = lines.slice(1).filter(pl.col("text").str.strip_chars(_BLANK.decode()).str.len_chars() > 0)
        fields, broken = _fields(body, canonical)
        fields = fields.with_columns(pl.col(contract.LAKE_COLUMNS).replace("", None))  # as polars' reader does
    strings = fields.with_columns(source_file=pl.lit(name))
    if padded:  # whitespace around values: tolerated, and an all-blank value is a missing one
        strings = strings.with_columns(pl.col(contract.LAKE_COLUMNS).str.strip_chars().replace("", None))
    if spelling == "seg":
        strings = strings.with_columns(
            pl.col(column.lower()).replace(codes) for column, codes in contract.ALTERNATIVE_CODES.items()
        )
    return FileFields(name, week, strings, broken, count, spelling, ignored, data)


def _clean_file_fields(data: bytes, canonical: list[str], count: LineCount) -> pl.DataFrame | None:
    """The whole file in one polars read, when it is provably line-exact: UTF-8, no quote
    characters, no blank lines, and exactly one comma less than columns on every data line
    (checked by counting commas; a longer line makes polars raise). None means: go line by line."""
    if b'"' in data or b"\x00" in data or count.blank_lines or not _is_utf8(data):
        return None
    if np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == _COMMA) != (len(canonical) - 1) * (count.data_lines + 1):
        return None
    try:
        frame = pl.read_csv(data, has_header=True, new_columns=canonical, quote_char=None, infer_schema=False)
    except pl.exceptions.ComputeError:
        return None
    if frame.height != count.data_lines:
        return None
    return frame.select(
        pl.int_range(2, frame.height + 2, dtype=pl.Int64()).alias("source_line"),
        pl.lit(None, dtype=pl.String()).alias("line"),  # quarantined rows get their text back later
        *(pl.col(name).alias(name.lower()) for name in contract.COLUMNS),
    )


def _padded(data: bytes) -> bool:
    """A space or tab next to a comma or a line end: some value needs stripping.

    numpy over the bytes: a regex or substring scans cost several times more on a 4 MB file."""
    codes = np.frombuffer(data, dtype=np.uint8)
    blanks = np.flatnonzero((codes == 32) | (codes == 9))
    if blanks.size == 0:
        return False
    if blanks[0] == 0 or blanks[-1] == codes.size - 1:
        return True
    return bool(np.isin(codes[blanks - 1], _BEFORE_VALUE).any() or np.isin(codes[blanks + 1], _AFTER_VALUE).any())


def _physical_lines(data: bytes) -> pl.DataFrame:
    """One row per physical line: `source_line` (1 = the header), `text`, `undecodable`."""
    if _is_utf8(data) and _LINE_SEPARATOR.encode() not in data:
        lines = pl.read_csv(
            data, has_header=False, separator=_LINE_SEPARATOR, quote_char=None, new_columns=["text"],
            schema_overrides={"text": pl.String()}, infer_schema=False,
        ) if data.strip() else pl.DataFrame({"text": []}, schema={"text": pl.String()})
        undecodable = [False] * lines.height
    else:
        # Rare: bytes that are not UTF-8 (each such line is quarantined, its bytes shown escaped),
        # or our fast path's separator inside the data. Python splits these files line by line.
        raw = data.split(b"\n")
        if raw and raw[-1] == b"":
            raw.pop()
        undecodable = [not _is_utf8(line) for line in raw]
        texts = [line.rstrip(b"\r").decode("utf-8", errors="backslashreplace") for line in raw]
        lines = pl.DataFrame({"text": texts}, schema={"text": pl.String()})
    return lines.with_columns(
        source_line=pl.int_range(1, lines.height + 1, dtype=pl.Int64()),
        undecodable=pl.Series(undecodable, dtype=pl.Boolean()),
    )


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _fields(body: pl.DataFrame, canonical: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split lines into the contract's text columns; lines that cannot be split come back as `broken`."""
    width = len(canonical)
    quoted = pl.col("text").str.contains('"', literal=True)
    commas = pl.col("text").str.count_matches(",", literal=True)
    body = body.with_columns(
        reason=pl.when(pl.col("undecodable"))
        .then(pl.lit("undecodable bytes: the line is not UTF-8 text"))
        .when(pl.col("text").str.contains("\x00", literal=True))
        .then(pl.lit("NUL byte inside the line: binary content, not text"))
        .when(pl.col("text").str.strip_chars().str.len_chars() == 0)
        .then(pl.lit("only whitespace other than spaces and tabs (a no-break space, NEL, U+3000, a form feed): not a record"))
        .when(~quoted & (commas + 1 != width))
        .then(pl.format(f"has {{}} fields, expected {width}", commas + 1))
    )
    plain = body.filter(pl.col("reason").is_null() & ~quoted)
    split = plain.select(
        "source_line", "text", pl.col("text").str.split_exact(",", width - 1).struct.rename_fields(canonical).alias("f")
    ).unnest("f")

    quoted_rows, quote_problems = [], []
    for line_number, text in body.filter(pl.col("reason").is_null() & quoted).select("source_line", "text").iter_rows():
        try:
            values = next(csv.reader([text], strict=True))
        except csv.Error:
            quote_problems.append((line_number, text, "unbalanced quote: a field opens a \" that never closes on this line"))
            continue
        if len(values) != width:
            quote_problems.append((line_number, text, f"has {len(values)} fields, expected {width}"))
        else:
            quoted_rows.append({"source_line": line_number, "text": text, **dict(zip(canonical, values, strict=True))})
    columns = ["source_line", "text", *canonical]
    parsed = pl.concat(
        [split.select(columns), pl.DataFrame(quoted_rows, schema={c: (pl.Int64() if c == "source_line" else pl.String()) for c in columns})],
        how="vertical_relaxed",
    )
    fields = parsed.select("source_line", pl.col("text").alias("line"), *(pl.col(name).alias(name.lower()) for name in contract.COLUMNS))
    broken = pl.concat(
        [
            body.filter(pl.col("reason").is_not_null()).select("source_line", pl.col("text").alias("line"), "reason"),
            pl.DataFrame(quote_problems, schema=BROKEN_SCHEMA, orient="row"),
        ]
    )
    return fields, broken


def _canonical_header(file_name: str, header: list[str]) -> tuple[list[str], str, list[str]]:
    canonical: list[str] = []
    spelling = "dunnhumby"
    for cell in header:
        name = cell.strip().strip('"')
        alternative = contract.ALTERNATIVE_COLUMN_NAMES.get(name.lower())
        if alternative:
            spelling = "seg"
            canonical.append(alternative)
        else:
            canonical.append(name.upper())
    missing = [name for name in contract.COLUMNS if name not in canonical]
    if missing:
        raise UnreadableFileError(
            f"{file_name}: missing column(s) {', '.join(missing)}; a weekly extract needs the 22 "
            f"dunnhumby columns (seg_1/seg_2 are accepted for the customer segments)"
        )
    duplicated = sorted({name for name in canonical if canonical.count(name) > 1 and name in contract.COLUMNS})
    if duplicated:
        raise UnreadableFileError(f"{file_name}: column(s) {', '.join(duplicated)} appear more than once")
    ignored = [name for name in canonical if name not in contract.COLUMNS]
    return canonical, spelling, ignored
