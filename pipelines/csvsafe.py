"""Every CSV the project writes for people to open goes through here, so no cell runs as a formula.

Lead Source strings and customer names are typed by the public (online booking forms) and reach
our exports. A spreadsheet opening a CSV evaluates a cell that starts with `=`, `+`, `-` or `@`
(and, in some, a leading tab or carriage return) as a formula: `=HYPERLINK("http://x","y")` turns
into a live link, `+cmd|' /C calc'!A0` into a DDE command. The rule is OWASP's (CSV Injection):

- a **text** cell starting with one of `FORMULA_STARTS` gets a single quote `'` in front, which a
  spreadsheet shows as text and a script can strip;
- every text cell is written inside double quotes (`csv.QUOTE_NONNUMERIC`), so a separator
  inside it (`Google;=1+2` opened where the list separator is `;`) cannot split it into a new
  cell that starts with `=`;
- **numbers stay numbers**: `int`, `float` and `Decimal` values are written as they are, without
  quotes of either kind, negatives included (`-12.50`). Figures our models produce are numeric
  types, so they are never touched.

Text that merely looks numeric (`"-5"`) is still text typed by someone, and it is prefixed like
any other: telling `-5` from `-5+cmd|...` would need a second parser and a second rule, and OWASP
says prefix. Only values of a numeric type are trusted as numbers; `bool` is not one (it is
written as text, `True`/`False`). `None` is an empty cell.

Use `safe_writer(handle)` where you would use `csv.writer(handle)`, or `safe_cell` on a single
value. CSVs written as *input* for the lead loader (the benchmarks' and drills' lead files, the
tests' fixtures) are deliberately raw: they stand in for a file a user uploads, and a quote in
front of `+1 312 555 0100` would change what the loader is tested with.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from decimal import Decimal
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a text cell may not start with (OWASP CSV Injection): each makes a spreadsheet evaluate it."""


def safe_cell(value: Any) -> int | float | Decimal | str:
    """`value` as a CSV cell no spreadsheet evaluates: numbers as they are, text prefixed if needed."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class SafeWriter:
    """`csv.writer` whose every row goes through `safe_cell`, text cells quoted."""

    def __init__(self, handle: IO[str], **fmtparams: Any) -> None:
        if "quoting" in fmtparams:
            raise ValueError("SafeWriter always quotes text (csv.QUOTE_NONNUMERIC); drop quoting=")
        self._writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC, **fmtparams)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def safe_writer(handle: IO[str], **fmtparams: Any) -> SafeWriter:
    """A CSV writer for files people open in a spreadsheet; see the module docstring for the rule."""
    return SafeWriter(handle, **fmtparams)
