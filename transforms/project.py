"""Reading `transforms/`: model files, their SQLMesh-style headers, seeds and audits.

A model file is one `MODEL (...);` header followed by one SELECT. The header is the model's
documentation *and* its contract: `grain` and `audits` become checks the runner executes, and
`column_descriptions` must name exactly the columns the query produces (the runner fails a model
whose header drifts from its SQL, so docs cannot rot silently).

This module only parses; it never touches a database.
"""

from __future__ import annotations

import graphlib
import re
from dataclasses import dataclass, field
from pathlib import Path

TRANSFORMS_DIR = Path(__file__).resolve().parent
MODELS_DIR = TRANSFORMS_DIR / "models"
AUDITS_DIR = TRANSFORMS_DIR / "audits"
SEEDS_DIR = TRANSFORMS_DIR / "seeds"
TARGET_SCHEMA = "analytics"

_REF = re.compile(r"\banalytics\.([a-z_][a-z0-9_]*)\b", re.IGNORECASE)


class ProjectError(Exception):
    """A model, seed or audit file is malformed; the message names the file."""


@dataclass(frozen=True)
class Audit:
    """One check over a model's rows: any row the query returns is a failure."""

    name: str
    model: str
    query: str
    blocking: bool = True


@dataclass(frozen=True)
class Model:
    name: str  # schema-qualified, e.g. analytics.lead_source_performance
    path: Path
    kind: str  # FULL (a table rebuilt each run) or SEED (a CSV loaded each run)
    grain: tuple[str, ...]
    description: str
    columns: dict[str, str]  # output column -> its one-line description, in header order
    column_types: dict[str, str] = field(default_factory=dict)  # SEED only
    seed_path: Path | None = None
    query: str = ""
    audits: tuple[Audit, ...] = ()
    depends_on: frozenset[str] = frozenset()

    @property
    def table(self) -> str:
        return self.name.split(".", 1)[1]


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside parentheses and single-quoted strings."""
    parts: list[str] = []
    depth = 0
    quoted = False
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted:
            current.append(ch)
            if ch == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    current.append("'")
                    i += 1
                else:
                    quoted = False
        elif ch == "'":
            quoted = True
            current.append(ch)
        elif ch == "(":
            depth += 1
            current.append(ch)
        elif ch == ")":
            depth -= 1
            current.append(ch)
        elif ch == sep and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    tail = "".join(current).strip()
    if tail:
        parts.append(tail)
    return [p for p in parts if p]


def _matching_paren(text: str, start: int) -> int:
    """Index of the `)` closing the `(` at `start`, skipping quoted strings and `--` comments."""
    depth = 0
    quoted = False
    i = start
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    i += 1
                else:
                    quoted = False
        elif ch == "'":
            quoted = True
        elif text.startswith("--", i):
            i = text.find("\n", i)
            if i == -1:
                break
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ProjectError("unbalanced parentheses in header")


def _strip_comments(text: str) -> str:
    """Drop `--` comments outside strings (header values may carry them)."""
    out: list[str] = []
    for line in text.splitlines():
        quoted = False
        cut = len(line)
        for i, ch in enumerate(line):
            if ch == "'":
                quoted = not quoted
            elif not quoted and line.startswith("--", i):
                cut = i
                break
        out.append(line[:cut])
    return "\n".join(out)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == "'" and value[-1] == "'":
        return value[1:-1].replace("''", "'")
    return value


def _inner(value: str) -> str:
    value = value.strip()
    if value.startswith("(") and value.endswith(")"):
        return value[1:-1]
    return value


def parse_header(text: str, keyword: str, path: Path) -> tuple[dict[str, str], str]:
    """Split `KEYWORD (key value, ...);` from the SQL after it; values stay raw text."""
    match = re.search(rf"\b{keyword}\s*\(", text)
    if not match:
        raise ProjectError(f"{path}: no {keyword} (...) header")
    open_at = match.end() - 1
    try:
        close_at = _matching_paren(text, open_at)
    except ProjectError as exc:
        raise ProjectError(f"{path}: {exc}") from None
    body = _strip_comments(text[open_at + 1 : close_at])
    rest = text[close_at + 1 :].lstrip()
    rest = rest[1:] if rest.startswith(";") else rest
    props: dict[str, str] = {}
    for item in split_top(body):
        key, _, value = item.strip().partition(" ")
        if not value.strip():
            key, _, value = item.strip().partition("(")
            value = "(" + value
        props[key.strip().lower()] = value.strip()
    return props, rest.strip().rstrip(";").strip()


def _columns_list(value: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in split_top(_inner(value)))


def _audit_from_call(call: str, model: str, path: Path) -> Audit:
    """Built-in audits, named as SQLMesh names them: not_null, unique_combination_of_columns,
    unique_values, accepted_values."""
    name, _, args = call.partition("(")
    name = name.strip()
    kwargs: dict[str, str] = {}
    for arg in split_top(args.rstrip()[:-1] if args.rstrip().endswith(")") else args):
        key, _, val = arg.partition(":=")
        kwargs[key.strip()] = val.strip()
    table = model
    if name == "not_null":
        cols = _columns_list(kwargs["columns"])
        where = " OR ".join(f"{c} IS NULL" for c in cols)
        query = f"SELECT * FROM {table} WHERE {where}"
    elif name in ("unique_combination_of_columns", "unique_values"):
        cols = _columns_list(kwargs["columns"])
        if name == "unique_values":
            selects = [
                f"SELECT '{c}' AS column_name, CAST({c} AS VARCHAR) AS value, count(*) AS n "
                f"FROM {table} GROUP BY {c} HAVING count(*) > 1"
                for c in cols
            ]
            query = " UNION ALL ".join(selects)
        else:
            joined = ", ".join(cols)
            query = (
                f"SELECT {joined}, count(*) AS n FROM {table} GROUP BY {joined} HAVING count(*) > 1"
            )
    elif name == "accepted_values":
        column = kwargs["column"]
        values = _inner(kwargs["is_in"])
        query = f"SELECT * FROM {table} WHERE {column} NOT IN ({values})"
    else:
        raise ProjectError(f"{path}: unknown audit {name!r}")
    shown = ", ".join(_inner(v) for v in kwargs.values())
    return Audit(name=f"{model.split('.')[-1]}: {name}({shown})", model=model, query=query)


def load_model(path: Path) -> Model:
    props, query = parse_header(path.read_text(), "MODEL", path)
    for required in ("name", "kind", "grain", "column_descriptions"):
        if required not in props:
            raise ProjectError(f"{path}: header lacks `{required}`")
    name = props["name"].lower()
    if not name.startswith(f"{TARGET_SCHEMA}."):
        raise ProjectError(f"{path}: models live in schema {TARGET_SCHEMA!r}, got {name!r}")
    kind_text = props["kind"]
    kind = kind_text.split("(")[0].strip().upper()
    columns: dict[str, str] = {}
    for item in split_top(_inner(props["column_descriptions"])):
        col, _, desc = item.partition("=")
        columns[col.strip()] = _unquote(desc)
    audits = tuple(
        _audit_from_call(a, name, path) for a in split_top(_inner(props.get("audits", "()")))
    )
    seed_path = None
    column_types: dict[str, str] = {}
    if kind == "SEED":
        match = re.search(r"path\s+'([^']+)'", kind_text)
        if not match:
            raise ProjectError(f"{path}: SEED kind needs (path '...csv')")
        seed_path = (path.parent / match.group(1)).resolve()
        for item in split_top(_inner(props.get("columns", "()"))):
            col, _, typ = item.strip().partition(" ")
            column_types[col.strip()] = typ.strip()
        if list(column_types) != list(columns):
            raise ProjectError(
                f"{path}: `columns` and `column_descriptions` must list the same columns"
            )
    elif kind != "FULL":
        raise ProjectError(f"{path}: kind must be FULL or SEED, got {kind!r}")
    elif not query:
        raise ProjectError(f"{path}: no query after the header")
    refs = {f"{TARGET_SCHEMA}.{m.lower()}" for m in _REF.findall(query)} - {name}
    return Model(
        name=name,
        path=path,
        kind=kind,
        grain=_columns_list(props["grain"]),
        description=_unquote(props.get("description", "''")),
        columns=columns,
        column_types=column_types,
        seed_path=seed_path,
        query=query,
        audits=audits,
        depends_on=frozenset(refs),
    )


def load_audit(path: Path) -> Audit:
    props, query = parse_header(path.read_text(), "AUDIT", path)
    if "model" not in props or not query:
        raise ProjectError(f"{path}: an audit needs `model` and a query returning bad rows")
    blocking = props.get("blocking", "true").lower() != "false"
    return Audit(
        name=props.get("name", path.stem),
        model=props["model"].lower(),
        query=query,
        blocking=blocking,
    )


def load_project(models_dir: Path = MODELS_DIR, audits_dir: Path = AUDITS_DIR) -> list[Model]:
    """Every model in dependency order, each carrying its header audits and file audits."""
    models = {m.name: m for m in (load_model(p) for p in sorted(models_dir.glob("*.sql")))}
    extra: dict[str, list[Audit]] = {}
    if audits_dir.exists():
        for p in sorted(audits_dir.glob("*.sql")):
            audit = load_audit(p)
            if audit.model not in models:
                raise ProjectError(f"{p}: audits unknown model {audit.model!r}")
            extra.setdefault(audit.model, []).append(audit)
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for model in models.values():
        missing = model.depends_on - set(models)
        if missing:
            raise ProjectError(f"{model.path}: refers to unknown models {sorted(missing)}")
        sorter.add(model.name, *sorted(model.depends_on))
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        raise ProjectError(f"models depend on each other in a cycle: {exc.args[1]}") from None
    out = []
    for name in order:
        m = models[name]
        out.append(Model(**{**m.__dict__, "audits": m.audits + tuple(extra.get(name, []))}))
    return out
