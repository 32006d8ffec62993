"""Reading seed CSVs as people type them: `2026-07` months, `$1,200.00` amounts, any column order.

Why not DuckDB's `read_csv` with typed columns: it names neither the line nor the value it could
not read, and refuses a month without a day or an amount with a dollar sign, which is how a
spreadsheet exports spend. Every value is read here, by the type the model's `columns (...)`
gives it, and the first bad one is a `ProjectError` naming the file, the line and the value.

Where the seed files come from: the package's `transforms/seeds/`, or a folder of the user's own
(`hcp transform --seeds DIR`, `[transform] seeds_dir`) whose files replace the package's by name.

It only reads files; loading the rows into DuckDB is the runner's.
"""

from __future__ import annotations

import csv
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from transforms.project import Model, ProjectError

OPTIONAL_COLUMNS = frozenset({"account"})  # a single-account file may leave it out
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})(?:-(\d{1,2}))?$")
_AMOUNT = re.compile(r"^([+-]?)\$?([+-]?)(\d{1,3}(?:,\d{3})+|\d*)(\.\d*)?$")
_SCALE = re.compile(r"DECIMAL\s*\(\s*\d+\s*,\s*(\d+)\s*\)", re.IGNORECASE)


def parse_date(text: str) -> date:
    """`2026-07-15` or `2026-07` (the 1st); ValueError otherwise."""
    match = _MONTH.match(text)
    if not match:
        raise ValueError("not a date: use YYYY-MM-DD or YYYY-MM")
    year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3) or 1)
    return date(year, month, day)  # ValueError for month 13 or day 31 of a 30-day month


def parse_decimal(text: str, scale: int) -> Decimal:
    """`1200`, `1,200.00`, `$1,200.00`, `-$50`; ValueError for anything else."""
    compact = text.replace(" ", "")
    match = _AMOUNT.match(compact)
    if not match or not re.search(r"\d", compact) or (match.group(1) and match.group(2)):
        raise ValueError("not an amount: use e.g. 1200.00, 1,200.00 or $1,200.00")
    sign = "-" if "-" in (match.group(1) + match.group(2)) else ""
    digits = match.group(3).replace(",", "") or "0"
    try:
        value = Decimal(sign + digits + (match.group(4) or ""))
    except InvalidOperation:
        raise ValueError("not an amount: use e.g. 1200.00, 1,200.00 or $1,200.00") from None
    if value != value.quantize(Decimal(1).scaleb(-scale)):
        raise ValueError(f"more than {scale} decimal places")
    return value


def _converter(sql_type: str) -> Any:
    upper = sql_type.strip().upper()
    if upper == "DATE":
        return parse_date
    if upper.startswith("DECIMAL"):
        scale_match = _SCALE.match(upper)
        scale = int(scale_match.group(1)) if scale_match else 0
        return lambda text: parse_decimal(text, scale)
    if upper in ("VARCHAR", "TEXT"):
        return str
    raise ProjectError(f"seed column type {sql_type!r} is not supported (VARCHAR, DATE, DECIMAL)")


def read_seed(model: Model, path: Path) -> list[tuple[Any, ...]]:
    """The rows of seed `path` in the order of the model's `columns (...)`; empty cells are NULL."""
    if not path.is_file():
        raise ProjectError(f"{model.name}: seed file {path} is missing")
    wanted = list(model.column_types)
    convert = {c: _converter(t) for c, t in model.column_types.items()}
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise ProjectError(f"{path}: empty file; the first line must be {','.join(wanted)}")
            names = [h.strip().lower() for h in header]
            unknown = [n for n in names if n not in convert]
            missing = [c for c in wanted if c not in names and c not in OPTIONAL_COLUMNS]
            if unknown or missing:
                problem = "; ".join(
                    ([f"unknown column(s) {', '.join(unknown)}"] if unknown else [])
                    + ([f"missing column(s) {', '.join(missing)}"] if missing else [])
                )
                raise ProjectError(f"{path} line 1: {problem}; expected {','.join(wanted)}")
            rows = []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                line = reader.line_num
                if len(row) > len(names):
                    raise ProjectError(
                        f"{path} line {line}: {len(row)} values for {len(names)} columns "
                        f"({','.join(names)}); quote a value that contains a comma"
                    )
                cells = dict(zip(names, row, strict=False))
                values = []
                for col in wanted:
                    text = cells.get(col, "").strip()
                    if not text:
                        values.append(None)
                        continue
                    try:
                        values.append(convert[col](text))
                    except ValueError as exc:
                        raise ProjectError(f"{path} line {line}: {col} {text!r} is {exc}") from None
                rows.append(tuple(values))
    except UnicodeDecodeError:
        raise ProjectError(f"{path}: not UTF-8 text; save it as CSV UTF-8") from None
    return rows


def seed_overrides(directory: Path, models: list[Model]) -> dict[str, Path]:
    """The seed files of a user's folder, by model table: `marketing_spend.csv` replaces the
    package's marketing_spend seed. A CSV named after no seed is an error (a typo would otherwise
    leave the package's file in use without a word)."""
    if not directory.is_dir():
        raise ProjectError(f"seeds folder {directory} does not exist")
    known = {m.table: m for m in models if m.kind == "SEED"}
    found: dict[str, Path] = {}
    for csv_path in sorted(directory.glob("*.csv")):
        if csv_path.stem not in known:
            raise ProjectError(
                f"{csv_path}: no seed named {csv_path.stem!r}; the seeds are "
                + ", ".join(f"{t}.csv" for t in sorted(known))
            )
        found[csv_path.stem] = csv_path
    if not found:
        raise ProjectError(
            f"seeds folder {directory} holds none of "
            + ", ".join(f"{t}.csv" for t in sorted(known))
        )
    return found
