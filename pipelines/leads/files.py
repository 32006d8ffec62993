"""How a lead file is read: its encoding and its delimiter, found before a row is parsed.

Ad platforms and spreadsheets export leads in whatever their authors chose: Facebook Lead Ads as
UTF-16 tab-separated text with a BOM, old Excel as Windows-1252, European Excel with
semicolons. This module finds out which, so the loader can read the file as it is:

- encoding: a byte-order mark first (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE); else UTF-8 when every
  byte decodes as UTF-8 (one streaming pass); else charset-normalizer's guess on a bounded sample
  (the start of the file and the bytes around the first non-UTF-8 one), preferring Windows-1252
  when it fits about as well (the Excel default where HCP's customers are). The chosen codec is
  then checked over the whole file, streamed, so a refusal happens before anything is staged;
- delimiter: comma, tab, semicolon or pipe, whichever the header line uses most outside quotes.

It reads files in constant memory (line by line, or a bounded sample) and never reads a whole
file into memory; it never opens the database and never decides whether a row is valid.
"""

from __future__ import annotations

import codecs
import io
import re
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer

SAMPLE_BYTES = 256 * 1024  # what charset-normalizer sees of the file's start
AROUND_BAD_BYTE = 32 * 1024  # and of the bytes around the first non-UTF-8 byte
# Candidates within this much "chaos" of charset-normalizer's best guess count as fitting as
# well: short files of accented Latin names fit cp775, cp1250 and cp1252 equally.
CHAOS_MARGIN = 0.1
WESTERN = ("cp1252", "latin_1", "iso8859_15")
# Unicode blocks of charset-normalizer's `alphabets` that say nothing about the script
SCRIPT_NEUTRAL = ("Control character", "General Punctuation", "Currency Symbols")

BOMS: tuple[tuple[bytes, str, str], ...] = (
    # UTF-32 LE before UTF-16 LE: its BOM starts with UTF-16 LE's
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32 LE (BOM)"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32 BE (BOM)"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8 (BOM)"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 LE (BOM)"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 BE (BOM)"),
)
DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
_QUOTED = re.compile(r'"(?:[^"]|"")*"')


class FileFormatError(Exception):
    """The file is not text in an encoding this loader can tell; nothing was read into staging."""


@dataclass(frozen=True)
class Encoding:
    """How the file's bytes become text."""

    codec: str  # the Python codec the file is read with
    label: str  # what the summary says: "UTF-16 LE (BOM)", "Windows-1252 (detected)"
    note: str | None = None  # a warning for the user, when the encoding was guessed


def _first_bad_line(path: Path, codec: str) -> tuple[int, int, str] | None:
    """Where the first byte `codec` cannot decode is (line, file offset, hex byte), or None."""
    decoder = codecs.getincrementaldecoder(codec)()
    offset = number = 0
    with path.open("rb") as raw:
        for number, line in enumerate(raw, start=1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError as exc:
                return number, offset + exc.start, line[exc.start : exc.start + 1].hex()
            offset += len(line)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return number, offset, f"truncated ({exc.reason})"
    return None


def _sample(path: Path, bad_offset: int) -> bytes:
    with path.open("rb") as raw:
        head = raw.read(SAMPLE_BYTES)
        if bad_offset < SAMPLE_BYTES:
            return head
        raw.seek(max(0, bad_offset - AROUND_BAD_BYTE))
        return head + b"\n" + raw.read(2 * AROUND_BAD_BYTE)


def _latin_script(alphabets: list[str]) -> bool:
    return all("Latin" in a or a in SCRIPT_NEUTRAL for a in alphabets)


def _guess(sample: bytes) -> str | None:
    """charset-normalizer's codec for the sample, Windows-1252 when it fits about as well: a
    Western candidate close to the best, or a best guess that is a single-byte code page of
    Latin letters (on a few accented names cp1250, cp775 and cp1252 cannot be told apart)."""
    matches = charset_normalizer.from_bytes(sample)
    best = matches.best()
    if best is None:
        return None
    for match in matches:
        if match.encoding in WESTERN and match.chaos <= best.chaos + CHAOS_MARGIN:
            return "cp1252"
    if not best.encoding.startswith("utf") and _latin_script(best.alphabets):
        try:
            sample.decode("cp1252")
        except UnicodeDecodeError:
            return best.encoding
        return "cp1252"
    return best.encoding


def detect_encoding(path: Path) -> Encoding:
    """The file's encoding, checked over the whole file; `FileFormatError` when there is none."""
    with path.open("rb") as raw:
        head = raw.read(4)
    for bom, codec, label in BOMS:
        if head.startswith(bom):
            bad = _first_bad_line(path, codec)
            if bad is not None:
                raise FileFormatError(
                    f"{path.name} starts with a {label.split(' (')[0]} byte-order mark but byte "
                    f"0x{bad[2]} on line {bad[0]} is not {label.split(' (')[0]}; nothing was staged"
                )
            return Encoding(codec, label)
    bad = _first_bad_line(path, "utf-8")
    if bad is None:
        return Encoding("utf-8", "UTF-8")
    line, offset, byte = bad
    codec = _guess(_sample(path, offset))
    if codec is None:
        raise FileFormatError(
            f"{path.name} is not text in any encoding we can tell (byte 0x{byte} on line {line} "
            "is not UTF-8): is it a spreadsheet or an image renamed .csv? Export it as CSV and "
            "load again; nothing was staged."
        )
    if codec == "cp1252" and _first_bad_line(path, "cp1252") is not None:
        codec = "latin_1"  # bytes cp1252 leaves undefined: Latin-1 reads every byte
    elif codec != "cp1252" and _first_bad_line(path, codec) is not None:
        raise FileFormatError(
            f"{path.name} is not UTF-8 (byte 0x{byte} on line {line}) and not {codec} all "
            "through either; save it as UTF-8 (Excel: 'CSV UTF-8 (Comma delimited)'). "
            "Nothing was staged."
        )
    label = {"cp1252": "Windows-1252", "latin_1": "Latin-1"}.get(codec, codec)
    return Encoding(
        codec,
        f"{label} (detected)",
        f"not UTF-8 (byte 0x{byte} on line {line}): read as {label}; check accented names, or "
        "save the file as UTF-8 to be sure",
    )


def open_text(path: Path, encoding: Encoding) -> io.TextIOWrapper:
    """The file as text, decoded strictly (`newline=""` as the csv module wants)."""
    return io.TextIOWrapper(path.open("rb"), encoding=encoding.codec, errors="strict", newline="")


def sniff_delimiter(header_line: str) -> str:
    """The delimiter the header line uses most outside quoted names; comma when none."""
    unquoted = _QUOTED.sub("", header_line)
    counts = {d: unquoted.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])  # ties: the first in DELIMITERS
    return best if counts[best] else ","
