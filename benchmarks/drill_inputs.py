"""Inputs for the reliability drill: good lead files, malformed lead rows, malformed CSV files,
and lead files exactly as ad platforms export them.

Kept apart from `drill.py` so the drill reads as a list of checks. Every generator is seeded and
writes only into the folder it is given.
"""

from __future__ import annotations

import codecs
import csv
import io
import random
from collections import Counter
from pathlib import Path

HEADER = ["external_id", "name", "email", "phone", "lead_source", "notes", "route"]


def write_leads(path: Path, n: int, prefix: str) -> dict[str, int]:
    """`n` leads: most with email and phone, every 10th phone-only, every 20th with no contact.

    Returns how many of each kind were written ("email", "phone", "invalid"), which is what an
    exactly-once check compares the sandbox's created customers with. `prefix` keeps ids,
    emails and phone numbers distinct between drills sharing a sandbox.
    """
    kinds: Counter[str] = Counter()
    base = 1000 + (sum(map(ord, prefix)) * 37) % 7000
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["external_id", "name", "email", "phone", "lead_source"])
        for i in range(n):
            phone = f"(312) 555-{(base + i) % 10000:04d}"
            source = ("Website", "Google Ads", "Drill Radio")[i % 3]
            if i % 20 == 7:
                w.writerow([f"{prefix}-{i}", f"Nocontact {prefix}{i}", "", "", source])
                kinds["invalid"] += 1
            elif i % 10 == 3:
                w.writerow([f"{prefix}-{i}", f"Phoneonly {prefix}x{i}", "", phone, source])
                kinds["phone"] += 1
            else:
                w.writerow([f"{prefix}-{i}", f"Lead {prefix}{i}", f"{prefix}.{i}@drill.example", phone, source])  # fmt: skip
                kinds["email"] += 1
    return dict(kinds)


def malformed_rows(seed: int = 11) -> list[tuple[str, list[str]]]:
    """At least 150 rows that must each end `failed_permanent` with a reason, by category."""
    rng = random.Random(seed)
    rows: list[tuple[str, list[str]]] = []

    def add(category: str, name: str, email: str, phone: str, notes: str = "", route: str = "") -> None:  # fmt: skip
        rows.append((category, [f"bad-{len(rows)}", name, email, phone, "Website", notes, route]))

    for i in range(15):
        add("no contact at all", f"Only A Name {i}", "", "")
    for i, email in enumerate(
        [
            "not-an-email",
            "a@b",
            "x@@y.com",
            "@example.com",
            "john@",
            "john doe@example.com",
            "john@exa mple.com",
            "jo,hn@example",
            "john@.com",
            "john..doe@",
            "mailto:",
            "<>",
            "a" * 300 + "@example.com",
            "john@example",
            "@@",
        ]  # fmt: skip
    ):
        add("invalid email, no phone", f"Bad Email {i}", email, "")
    for i, phone in enumerate(
        [
            "12",
            "abc",
            "555-CALL-NOW",
            "0000000000",
            "1",
            "+",
            "()",
            "999",
            "12345678901234567890",
            "phone",
            "---",
            "+1 (000) 000-0000",
            "ext. 12",
            "N/A",
            "call me",
        ]  # fmt: skip
    ):
        add("unusable phone, no email", f"Bad Phone {i}", "", phone)
    for i in range(15):
        add("invalid email and unusable phone", f"Both Bad {i}", f"nobody{i}@", f"12{i}")
    for i in range(15):
        ch = chr(rng.choice([0, 1, 7, 8, 11, 12, 27, 127]))
        add("control character", f"Ctrl{ch}Person {i}", f"ctrl{i}@drill-bad.example", "")
    for i in range(15):
        add("huge field", "N" * (200_000 + i), f"huge{i}@drill-bad.example", "")
    for i in range(15):
        add(
            "huge notes",
            f"Huge Notes {i}",
            f"notes{i}@drill-bad.example",
            "",
            "x" * (1_100_000 + i),
        )
    for i in range(15):
        add(
            "unknown route",
            f"Route {i}",
            f"route{i}@drill-bad.example",
            "",
            "",
            f"no-such-route-{i}",
        )
    for i in range(15):
        add("whitespace only contact", f"Blank {i}", "   ", "\t ")
    for i in range(15):
        # one field too many: columns may be shifted, so the row is not sent as is
        rows.append(
            (
                "extra field",
                [
                    f"bad-{len(rows)}",
                    f"Shifted {i}",
                    f"shift{i}@drill-bad.example",
                    "",
                    "Web",
                    "",
                    "",
                    "surplus",
                ],  # fmt: skip
            )
        )
    for i in range(10):
        add("no contact, unicode name", f"Zoë Ünïcødé 🚀 {i}", "", "")
    return rows


def write_bad_leads(path: Path, valid: int = 30, seed: int = 11) -> dict[str, int]:
    """The malformed rows mixed at random with `valid` good ones; returns counts by category."""
    rng = random.Random(seed)
    rows = malformed_rows(seed)
    good = [
        (
            "valid",
            [f"good-{i}", f"Good Person{i}", f"good{i}@drill-ok.example", "", "Website", "", ""],
        )  # fmt: skip
        for i in range(valid)
    ]
    mixed = rows + good
    rng.shuffle(mixed)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for _, cells in mixed:
            w.writerow(cells)
    return dict(Counter(category for category, _ in mixed))


def write_bad_files(folder: Path, seed: int = 13) -> dict[str, Path]:
    """Whole files a user might upload by mistake; none may crash or hang the loader."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    good_line = "name,email,phone\nJane Doe,jane.files@drill.example,312-555-0142\n"
    files: dict[str, bytes] = {
        "latin1.csv": "name,email,phone\nJosé Muñoz,jose@drill.example,3125550101\n".encode("latin-1"),
        "utf16.csv": codecs.BOM_UTF16_LE + good_line.encode("utf-16-le"),
        "no_header.csv": b"Jane Doe,jane.nh@drill.example,3125550143\nJohn Roe,john.nh@drill.example,3125550144\n",
        "binary_junk.csv": bytes(rng.getrandbits(8) for _ in range(64 * 1024)),
        "png_renamed.csv": b"\x89PNG\r\n\x1a\n" + bytes(rng.getrandbits(8) for _ in range(4096)),
        "empty.csv": b"",
        "blank_lines.csv": b"\n\n   \n\n",
        "header_only.csv": b"name,email,phone\n",
        "huge_field.csv": b"name,email,phone\n" + b"A" * (17 * 1024 * 1024) + b",big@drill.example,\n",
        "nul_bytes.csv": b"name,email,phone\nJa\x00ne,nul@drill.example,3125550145\n",
        "unterminated_quote.csv": b'name,email,phone\n"Open quote,oq@drill.example,3125550146\nBob,bob.oq@drill.example,3125550147\n',
        "semicolons.csv": b"name;email;phone\nJane Semi;semi@drill.example;3125550148\n",
        "one_huge_line.csv": b"name,email,phone\n" + b",".join([b"x"] * 200_000) + b"\n",
    }  # fmt: skip
    out = {}
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        out[name] = path
    return out


def _export(header: list[str], rows: list[list[str]], delimiter: str = ",") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows([header, *rows])
    return buf.getvalue()


def write_platform_files(folder: Path, n: int = 40) -> dict[str, tuple[Path, int]]:
    """Platform exports in their real shapes (made-up people), each with `n` leads of which
    every 10th is the platform's test lead: {file name: (path, test leads)}. All must load with
    no mapping, no refused file, and the test leads failed "test lead from <platform>"."""
    folder.mkdir(parents=True, exist_ok=True)
    tests = sum(1 for i in range(n) if i % 10 == 9)
    fb_header = ["id", "created_time", "ad_id", "ad_name", "adset_id", "adset_name", "campaign_id", "campaign_name", "form_id", "form_name", "is_organic", "platform", "which_service?", "full_name", "email", "phone_number"]  # fmt: skip
    fb_rows = []
    for i in range(n):
        who = [f"Zoë Fb{i}", f"fb{i}@drill-platform.example", f"+1312555{2000 + i:04d}"]
        if i % 10 == 9:  # the Lead Ads Testing Tool's dummy data
            who = [f"<test lead: dummy data for {f}>" for f in ("full_name", "email", "phone_number")]  # fmt: skip
        fb_rows.append([f"l:{900 + i}", "2024-05-01T10:00:00-0700", "ag:1", "Spring", "as:1", "Metro", "c:1", "AC", "f:1", "Quote", "false", "fb", "ac_repair", *who])  # fmt: skip
    g_header = ["Lead ID", "Campaign", "Ad group", "Form name", "Full name", "User email", "User phone", "Postal code", "Submit time", "Is test"]  # fmt: skip
    g_rows = [
        [
            f"gl-{i}",
            "Search",
            "Plumbing",
            "Quote",
            f"José G{i}",
            f"g{i}@drill-platform.example",
            f"+1 312-555-{3000 + i:04d}",
            "60601",
            "2024-05-01 10:00:00",
            "TRUE" if i % 10 == 9 else "FALSE",
        ]  # fmt: skip
        for i in range(n)
    ]
    li_header = ["First Name", "Last Name", "Email Address", "Phone Number", "Company Name", "Job Title", "LinkedIn Profile URL", "Test Lead"]  # fmt: skip
    li_rows = [
        [
            f"Ana{i}",
            "Ruiz",
            f"li{i}@drill-platform.example",
            "",
            "Acme",
            "Owner",
            f"https://www.linkedin.com/in/drill-{i}",
            "true" if i % 10 == 9 else "false",
        ]  # fmt: skip
        for i in range(n)
    ]
    excel_rows = [[f"Renée Côté{i}", f"x{i}@drill-platform.example", ""] for i in range(n)]
    files: dict[str, tuple[bytes, int]] = {
        "facebook_lead_ads_utf16.csv": (
            codecs.BOM_UTF16_LE + _export(fb_header, fb_rows, "\t").encode("utf-16-le"),
            tests,
        ),  # fmt: skip
        "google_ads_leads.csv": (_export(g_header, g_rows).encode("utf-8"), tests),
        "linkedin_leads.csv": (_export(li_header, li_rows).encode("utf-8"), tests),
        "excel_windows1252.csv": (
            _export(["Name", "Email", "Phone"], excel_rows).encode("cp1252"),
            0,
        ),  # fmt: skip
        "excel_semicolons.csv": (
            _export(["Name", "Email", "Phone"], excel_rows, ";").encode("utf-8"),
            0,
        ),  # fmt: skip
    }
    out = {}
    for name, (data, test_rows) in files.items():
        (folder / name).write_bytes(data)
        out[name] = (folder / name, test_rows)
    return out
