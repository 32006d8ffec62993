"""Deterministic seeded data for the sandbox: one small home-services shop, in HCP's shapes.

Same `seed` and `scale` give byte-identical data: one `random.Random` drives everything in a
fixed order and every timestamp derives from the settings' fixed `anchor`, never the wall
clock. `scale` multiplies the big objects (customers, jobs, estimates, invoices, leads, events);
the catalogue-like ones (employees, tags, price book...) stay shop-sized.

Records are built in their served shape (HCP_API.md §4, HCP's spec, HAE's live fixtures).
Embedded objects (a job's customer, assigned employees, job type) are shared dicts: never mutate
a record in place; the store replaces records copy-on-write. Fields HCP does not serve but that
HCP sorts or filters on (a lead's or an invoice's created_at) live in `Dataset.hidden`.
"""

from __future__ import annotations

import bisect
import gc
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sandbox import seed_vocab as V
from sandbox.clock import iso, parse_iso
from sandbox.settings import SandboxSettings

DAY = 86400
HOUR = 3600
SPAN_DAYS = 548  # ~18 months of history before the anchor

BASE_COUNTS = {
    "customers": 400,
    "jobs": 3000,
    "estimates": 800,
    "leads": 600,
    "events": 150,
}

Record = dict[str, Any]


@dataclass
class Dataset:
    """Every seeded object, keyed by the object (= warehouse table) name."""

    records: dict[str, list[Record]]
    hidden: dict[str, dict[str, Record]]
    company: Record
    inactive_employees: list[Record] = field(default_factory=list)


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _uuid(rng: random.Random) -> str:
    h = _hex(rng)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _weighted(rng: random.Random, items: list[tuple[Any, float]]) -> Any:
    total = sum(w for _, w in items)
    r = rng.random() * total
    for item, w in items:
        r -= w
        if r <= 0:
            return item
    return items[-1][0]


class _Builder:
    """Holds the generator state while one dataset is built (not reused)."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.s = settings
        self.rng = random.Random(settings.seed)
        self._random = self.rng.random
        anchor = parse_iso(settings.anchor)
        if anchor is None:
            raise ValueError(f"anchor {settings.anchor!r} is not an RFC 3339 timestamp")
        self.anchor = int(anchor)
        self.start = self.anchor - SPAN_DAYS * DAY
        self.tz = ZoneInfo(settings.time_zone)
        self.company_id = _uuid(self.rng)
        self.company_name = settings.company_name
        self.hidden: dict[str, dict[str, Record]] = {}
        # epoch seconds kept beside the records so the generator never re-parses its own strings
        self.ts: dict[str, int] = {}
        self.appts: list[tuple[int, Record, str]] = []
        self.counts = {k: max(1, round(v * settings.scale)) for k, v in BASE_COUNTS.items()}

    # helpers -------------------------------------------------------------------------------
    def rr(self, a: int, b: int | None = None) -> int:
        """`randrange` without its argument checks (the generator's hot path)."""
        if b is None:
            return int(self._random() * a)
        return a + int(self._random() * (b - a))

    def pid(self, prefix: str) -> str:
        return prefix + _hex(self.rng)

    def local(self, ts: int) -> str:
        return datetime.fromtimestamp(ts, self.tz).isoformat()

    def hide(self, obj: str, rid: str, created: int, updated: int | None = None) -> None:
        self.hidden.setdefault(obj, {})[rid] = {
            "created_at": iso(created),
            "updated_at": iso(updated if updated is not None else created),
        }

    def stamp(self, rec: Record) -> None:
        rec["company_name"] = self.company_name
        rec["company_id"] = self.company_id

    def between(self, lo: int, hi: int) -> int:
        return lo + int(self.rng.random() * max(0, hi - lo))

    # catalogue -----------------------------------------------------------------------------
    def employees(self) -> tuple[list[Record], list[Record]]:
        out: list[Record] = []
        inactive: list[Record] = []
        for group, active in ((V.EMPLOYEES, True), (V.INACTIVE_EMPLOYEES, False)):
            for first, last, role in group:
                created = self.start - self.between(30, 900) * DAY
                admin = role == "admin"
                office = role != "field tech"
                perms = {
                    "can_add_and_edit_job": True,
                    "can_be_booked_online": role == "field tech",
                    "can_call_and_text_with_customers": True,
                    "can_chat_with_customers": office,
                    "can_delete_and_cancel_job": office,
                    "can_edit_message_on_invoice": office,
                    "can_see_street_view_data": True,
                    "can_share_job": True,
                    "can_take_payment_see_prices": True,
                    "can_see_customers": True,
                    "can_see_full_schedule": office,
                    "can_see_future_jobs": True,
                    "can_see_marketing_campaigns": admin,
                    "can_see_reporting": office,
                    "can_edit_settings": admin,
                    "is_point_of_contact": admin,
                    "is_admin": admin,
                }
                rec: Record = {
                    "id": self.pid("pro_"),
                    "first_name": first,
                    "last_name": last,
                    "email": f"{first.lower()}@lonestar-plumbing.example",
                    "mobile_number": f"512555{self.rr(10000):04d}",
                    "color_hex": f"{self.rng.getrandbits(24):06x}",
                    "avatar_url": "https://pro.housecallpro.com/assets/add_image_thumb_web_round.png",
                    "role": role,
                    "tags": [],
                    "permissions": perms,
                    "created_at": iso(created),
                }
                self.stamp(rec)
                (out if active else inactive).append(rec)
        return out, inactive

    def named(
        self, obj: str, prefix: str, names: list[str], extra: dict[str, Any] | None = None
    ) -> list[Record]:
        out = []
        for i, name in enumerate(names):
            rec = {"id": self.pid(prefix), "name": name, **(extra or {})}
            self.hide(obj, rec["id"], self.start - (len(names) - i) * DAY)
            out.append(rec)
        return out

    def lead_sources(self) -> list[Record]:
        names = [n for n, _ in V.LEAD_SOURCES] + [n for n, _ in V.LEAD_SOURCE_VARIANTS]
        recs = self.named("lead_sources", "lso_", names)
        for rec in recs:
            rec["editable"] = rec["name"] not in ("Repeat customer",)
        return recs

    def address(self, kind: str) -> Record:
        city, state, zips = V.CITIES[self.rr(len(V.CITIES))]
        return {
            "id": self.pid("adr_"),
            "type": kind,
            "street": f"{self.rr(100, 19999)} {V.STREETS[self.rr(len(V.STREETS))]}",
            "street_line_2": None if self.rng.random() < 0.9 else f"Apt {self.rr(1, 400)}",
            "city": city,
            "state": state,
            "zip": zips[self.rr(len(zips))],
            "country": "US",
            "latitude": round(30.27 + (self.rng.random() - 0.5) * 0.6, 6),
            "longitude": round(-97.74 + (self.rng.random() - 0.5) * 0.6, 6),
        }

    # customers -----------------------------------------------------------------------------
    def customers(self, tags: list[Record]) -> list[Record]:
        rng = self.rng
        sources = list(V.LEAD_SOURCES) + list(V.LEAD_SOURCE_VARIANTS)
        emails: set[str] = set()
        phones: set[str] = set()
        tag_names = [t["name"] for t in tags]
        out = []
        for _ in range(self.counts["customers"]):
            first = V.FIRST_NAMES[self.rr(len(V.FIRST_NAMES))]
            last = V.LAST_NAMES[self.rr(len(V.LAST_NAMES))]
            created = self.between(self.start, self.anchor - DAY)
            updated = created if rng.random() < 0.5 else self.between(created, self.anchor)
            email = None
            if rng.random() < 0.88:
                base = f"{first}.{last}".lower()
                domain = V.EMAIL_DOMAINS[self.rr(len(V.EMAIL_DOMAINS))]
                email, n = f"{base}@{domain}", 1
                while email in emails:
                    n += 1
                    email = f"{base}{n}@{domain}"
                emails.add(email)
            mobile = None
            if rng.random() < 0.9 or email is None:
                while mobile is None or mobile in phones:
                    mobile = f"{('512', '737')[self.rr(2)]}{self.rr(2000000, 9999999)}"
                phones.add(mobile)
            company = f"{last} Properties LLC" if rng.random() < 0.07 else None
            lead_source = None
            if rng.random() >= V.NULL_LEAD_SOURCE_SHARE:
                lead_source = _weighted(rng, sources)
            addresses = [self.address("service")]
            if rng.random() < 0.15:
                addresses.append(self.address("billing"))
            rec: Record = {
                "id": self.pid("cus_"),
                "first_name": first,
                "last_name": last if rng.random() < 0.97 else None,
                "email": email,
                "mobile_number": mobile,
                "home_number": f"512{self.rr(2000000, 9999999)}" if rng.random() < 0.12 else None,
                "work_number": f"512{self.rr(2000000, 9999999)}" if rng.random() < 0.06 else None,
                "company": company,
                "notifications_enabled": rng.random() < 0.8,
                "lead_source": lead_source,
                "notes": V.CUSTOMER_NOTES[self.rr(len(V.CUSTOMER_NOTES))]
                if rng.random() < 0.2
                else None,
                "kind": "business" if company else "homeowner",
                "created_at": iso(created),
                "updated_at": iso(updated),
                "company_name": self.company_name,
                "company_id": self.company_id,
                "tags": [tag_names[self.rr(len(tag_names))]] if rng.random() < 0.25 else [],
                "addresses": addresses,
            }
            out.append(rec)
            self.ts[rec["id"]] = created
        return out

    # schedules -----------------------------------------------------------------------------
    def slot(self, created: int, max_days: int) -> tuple[int, int, int]:
        """A start in business hours (7:00-16:45 local, via UTC 12-21h) after `created`."""
        day = (created // DAY + self.rr(0, max_days + 1)) * DAY
        start = day + 12 * HOUR + self.rr(0, 40) * 900
        if start < created:
            start += DAY
        duration = (60, 90, 120, 180, 240)[self.rr(5)] * 60
        window = (0, 30, 60, 120)[self.rr(4)]
        return start, start + duration, window

    def schedule(
        self, start: int | None, end: int | None, window: int, appts: list[Record]
    ) -> Record:
        return {
            "scheduled_start": iso(start) if start is not None else None,
            "scheduled_end": iso(end) if end is not None else None,
            "time_zone": self.s.time_zone,
            "scheduled_start_local": self.local(start) if start is not None else None,
            "scheduled_end_local": self.local(end) if end is not None else None,
            "arrival_window": window,
            "appointments": appts,
        }

    # estimates -----------------------------------------------------------------------------
    def estimates(
        self,
        customers: list[Record],
        embeds: list[Record],
        techs: list[Record],
        job_types: list[Record],
    ) -> tuple[list[Record], dict[int, list[tuple[int, str, str]]]]:
        rng = self.rng
        approved_by_customer: dict[int, list[tuple[int, str, str]]] = {}
        items = []
        for _ in range(self.counts["estimates"]):
            ci = self.rr(len(customers))
            c = customers[ci]
            created = self.between(self.ts[c["id"]], self.anchor)
            items.append((created, ci))
        items.sort()
        out = []
        for n, (created, ci) in enumerate(items):
            c = customers[ci]
            start, end, window = self.slot(created, 10)
            if start > self.anchor:
                status = "scheduled"
            else:
                status = _weighted(
                    rng,
                    [
                        ("complete unrated", 45),
                        ("complete rated", 25),
                        ("scheduled", 5),
                        ("needs scheduling", 10),
                        ("pro canceled", 10),
                        ("user canceled", 5),
                    ],
                )
            if status == "needs scheduling":
                sched = self.schedule(None, None, 0, [])
            else:
                sched = self.schedule(start, end, window, [])
            est_id = self.pid("csr_")
            number = str(20000 + n)
            outcome = _weighted(
                rng,
                [
                    ("approved", 35),
                    ("declined", 20),
                    ("awaiting response", 25),
                    ("expired", 10),
                    (None, 10),
                ],
            )
            n_opts = 1 + (rng.random() < 0.45) + (rng.random() < 0.2)
            win = self.rr(n_opts)
            jt = job_types[self.rr(len(job_types))]
            options = []
            for k in range(n_opts):
                if outcome == "approved":
                    appr = (
                        ("approved" if rng.random() < 0.7 else "pro approved")
                        if k == win
                        else ("declined" if rng.random() < 0.7 else "pro declined")
                    )
                else:
                    appr = outcome
                opt_updated = (
                    created if appr is None else min(self.anchor, created + self.rr(HOUR, 20 * DAY))
                )
                opt = {
                    "id": self.pid("est_"),
                    "name": f"Option #{k + 1}" if n_opts == 1 else ("Good", "Better", "Best")[k],
                    "option_number": number if k == 0 else f"{number}-{k + 1}",
                    "total_amount": self.rr(150, 4000) * 100 + rng.choice((0, 50, 99)),
                    "approval_status": appr,
                    "status": {
                        "approved": "approved",
                        "pro approved": "approved",
                        "declined": "declined",
                        "pro declined": "declined",
                    }.get(appr or "", "submitted for signoff"),
                    "message_from_pro": "Thank you for doing business with us! All payments due within 30 days",
                    "tags": [],
                    "notes": [],
                    "created_at": iso(created),
                    "updated_at": iso(opt_updated),
                    "approval_status_updated_at": iso(opt_updated) if appr else None,
                }
                options.append(opt)
                if appr in ("approved", "pro approved"):
                    approved_by_customer.setdefault(ci, []).append((opt_updated, opt["id"], est_id))
            rec: Record = {
                "id": est_id,
                "estimate_number": number,
                "work_status": status,
                "lead_source": c["lead_source"] if rng.random() < 0.85 else None,
                "customer": embeds[ci],
                "address": c["addresses"][0],
                "created_at": iso(created),
                # HCP does not bump an estimate when an option's approval changes [TRIN]
                "updated_at": iso(min(self.anchor, created + self.rr(0, 3 * HOUR))),
                "company_name": self.company_name,
                "company_id": self.company_id,
                "work_timestamps": self.work_ts(status, start, end),
                "schedule": sched,
                "assigned_employees": [techs[self.rr(len(techs))]],
                "estimate_fields": {"job_type": jt, "business_unit": None},
                "assigned_route_template_id": None,
                "options": options,
            }
            out.append(rec)
        return out, approved_by_customer

    def work_ts(self, status: str, start: int | None, end: int | None) -> Record:
        done = status.startswith("complete")
        going = done or status == "in progress"
        return {
            "on_my_way_at": iso(start - 1200) if going and start else None,
            "started_at": iso(start) if going and start else None,
            "completed_at": iso(end) if done and end else None,
        }

    # jobs ----------------------------------------------------------------------------------
    def jobs(self, customers, embeds, techs, inactive, job_types, tags, approved) -> list[Record]:
        rng = self.rng
        n = self.counts["jobs"]
        weights = [rng.random() ** 3 + 0.05 for _ in customers]
        cum = []
        acc = 0.0
        for w in weights:
            acc += w
            cum.append(acc)
        picks = []
        for _ in range(n):
            ci = bisect.bisect_left(cum, rng.random() * acc)
            c_created = self.ts[customers[ci]["id"]]
            picks.append((self.between(c_created, self.anchor), ci))
        picks.sort()
        tag_names = [t["name"] for t in tags]
        jt_by_name = {j["name"]: j for j in job_types}
        old_cutoff = self.anchor - 365 * DAY
        out = []
        for seq, (created, ci) in enumerate(picks):
            c = customers[ci]
            jt_name, descriptions, base = V.JOB_TYPES[self.rr(len(V.JOB_TYPES))]
            jt = jt_by_name[jt_name] if rng.random() < 0.9 else None
            start, end, window = self.slot(created, 21)
            canceled_at = deleted_at = None
            if rng.random() < 0.04:
                status = "needs scheduling"
            elif start > self.anchor:
                status = "scheduled"
            else:
                r = rng.random()
                if r < 0.05:
                    status = "pro canceled"
                elif r < 0.08:
                    status = "user canceled"
                elif r < 0.10:
                    status = "scheduled"  # never closed out in the app
                elif end > self.anchor - 2 * DAY and r < 0.4:
                    status = "in progress"
                else:
                    status = "complete rated" if rng.random() < 0.55 else "complete unrated"
            crew_pool = inactive if created < old_cutoff and rng.random() < 0.15 else techs
            crew = [crew_pool[self.rr(len(crew_pool))]]
            if rng.random() < 0.2:
                other = techs[self.rr(len(techs))]
                if other is not crew[0]:
                    crew.append(other)
            crew_ids = [e["id"] for e in crew]
            if status == "needs scheduling":
                appts: list[Record] = []
                sched = self.schedule(None, None, 0, appts)
            else:
                appts = []
                days = 1 if rng.random() < 0.92 else 2 + (rng.random() < 0.4)
                for d in range(days):
                    appts.append(
                        {
                            "id": self.pid("appt_"),
                            "start_date": None,
                            "start_time": iso(start + d * DAY),
                            "end_time": iso(end + d * DAY),
                            "anytime": False,
                            "arrival_window_minutes": window,
                            "dispatched_employees_ids": crew_ids,
                        }
                    )
                end = end + (days - 1) * DAY
                sched = self.schedule(start, end, window, appts)
            if status.endswith("canceled"):
                canceled_at = self.between(created, min(start, self.anchor))
            closing = end if status.startswith("complete") else created
            updated = min(self.anchor, max(created, closing) + self.rr(0, 3 * DAY))
            if canceled_at:
                updated = max(updated, canceled_at)
            if rng.random() < 0.01:
                deleted_at = self.between(created, self.anchor)
                updated = max(updated, deleted_at)
            price = base or 9900
            subtotal = (
                int(price * (0.6 + rng.random() * 1.2)) // 100 * 100 + (0, 50, 99)[self.rr(3)]
            )
            taxable = rng.random() < 0.6
            total = subtotal + (subtotal * 8 // 100 if taxable else 0)
            orig_id, orig_uuids = None, []
            pending = approved.get(ci)
            if pending and pending[0][0] <= created and rng.random() < 0.7:
                _, opt_id, est_id = pending.pop(0)
                orig_id, orig_uuids = opt_id, [est_id]
            recurring = rng.random() < 0.03
            rec: Record = {
                "id": self.pid("job_"),
                "invoice_number": str(1000 + seq),
                "description": descriptions[self.rr(len(descriptions))],
                "customer": embeds[ci],
                "address": c["addresses"][0],
                "notes": [
                    {"id": self.pid("nte_"), "content": "Customer asked for a call 30 min out"}
                ]
                if rng.random() < 0.15
                else [],
                "work_status": status,
                "work_timestamps": self.work_ts(status, start, end),
                "schedule": sched,
                "total_amount": total,
                "outstanding_balance": 0 if status.endswith("canceled") else total,
                "subtotal": subtotal,
                "assigned_employees": crew,
                "tags": [tag_names[self.rr(len(tag_names))]] if rng.random() < 0.15 else [],
                "original_estimate_id": orig_id,
                "original_estimate_uuids": orig_uuids,
                "lead_source": c["lead_source"] if rng.random() < 0.8 else None,
                "job_fields": {"job_type": jt, "business_unit": None},
                "attachments": [],
                "locked_at": iso(end + 30 * DAY)
                if status.startswith("complete")
                and end + 30 * DAY < self.anchor
                and rng.random() < 0.3
                else None,
                "created_at": iso(created),
                "updated_at": iso(updated),
                "canceled_at": iso(canceled_at) if canceled_at else None,
                "deleted_at": iso(deleted_at) if deleted_at else None,
                "assigned_route_template_id": None,
                "company_name": self.company_name,
                "company_id": self.company_id,
                "recurrence_number": 1 if recurring else None,
                "recurrence_rule": "FREQ=MONTHLY;INTERVAL=6" if recurring else None,
                "recurrence_status": "active" if recurring else None,
                "recurrence_id": self.pid("rec_") if recurring else None,
            }
            out.append(rec)
            self.ts[rec["id"]] = end if status != "needs scheduling" else created
            self.appts.extend((start + d * DAY, a, rec["id"]) for d, a in enumerate(appts))
        return out

    # invoices ------------------------------------------------------------------------------
    def invoices(self, jobs: list[Record], customers_by_id: dict[str, Record]) -> list[Record]:
        rng = self.rng
        out = []
        methods = [
            ("credit_card", 60),
            ("external", 25),
            ("ach", 10),
            ("consumer_financing", 3),
            ("mobile_check_deposit", 2),
        ]
        for i, job in enumerate(jobs):
            status = job["work_status"]
            if job["deleted_at"] or not (
                status.startswith("complete")
                or status == "in progress"
                or (status == "pro canceled" and rng.random() < 0.2)
            ):
                continue
            end = self.ts[job["id"]]
            inv_date = min(end, self.anchor)
            lines = job_line_items(self.s.seed, job)
            subtotal = sum(li["amount"] for li in lines)
            discount = 0
            discounts = []
            if rng.random() < 0.12:
                discount = min(subtotal // 5, (2500, 5000, 7500)[self.rr(3)])
                discounts.append(
                    {
                        "id": self.pid("dis_"),
                        "amount": discount,
                        "name": ("Senior discount", "Coupon", "Maintenance plan member")[
                            self.rr(3)
                        ],
                    }
                )
            taxes = []
            tax = 0
            if job["total_amount"] != job["subtotal"]:
                tax = (subtotal - discount) * 8 // 100
                taxes.append(
                    {"id": self.pid("tax_"), "rate": 8, "amount": tax, "name": "Sales tax"}
                )
            amount = subtotal - discount + tax
            if status == "pro canceled":
                inv_status = "voided"
            elif status == "in progress":
                inv_status = "open"
            else:
                inv_status = _weighted(
                    rng,
                    [
                        ("paid", 82),
                        ("open", 8),
                        ("pending_payment", 2),
                        ("voided", 4),
                        ("uncollectible", 2),
                        ("canceled", 2),
                    ],
                )
            sent = (
                inv_date + self.rr(0, 2 * HOUR)
                if inv_status != "open" or rng.random() < 0.7
                else None
            )
            net30 = rng.random() < 0.3
            due = inv_date + (30 * DAY if net30 else 0)
            payments = []
            paid_at = None
            if inv_status in ("paid", "open", "pending_payment"):
                method = _weighted(rng, methods)
                pay_time = (sent or inv_date) + self.rr(0, 20 * DAY if net30 else 3 * DAY)
                if pay_time > self.anchor:
                    inv_status = "open"
                if rng.random() < 0.04:
                    payments.append(
                        {
                            "id": self.pid("pmt_"),
                            "status": "failed",
                            "payment_method": "credit_card",
                            "amount": amount,
                            "note": "Card declined",
                            "paid_at": None,
                            "category": "payment",
                        }
                    )
                if inv_status == "paid":
                    paid_at = pay_time
                    split = amount // 2 if rng.random() < 0.1 else 0
                    if split:
                        payments.append(
                            {
                                "id": self.pid("pmt_"),
                                "status": "succeeded" if method != "external" else "paid",
                                "payment_method": method,
                                "amount": split,
                                "note": "Deposit",
                                "paid_at": iso(pay_time - DAY),
                                "category": "deposit",
                            }
                        )
                    payments.append(
                        {
                            "id": self.pid("pmt_"),
                            "status": "succeeded" if method != "external" else "paid",
                            "payment_method": method,
                            "amount": amount - split,
                            "note": "Check #" + str(self.rr(1000, 9999))
                            if method == "external"
                            else None,
                            "paid_at": iso(pay_time),
                            "category": "payment",
                        }
                    )
                    if rng.random() < 0.03 and pay_time + 5 * DAY < self.anchor:
                        payments.append(
                            {
                                "id": self.pid("pmt_"),
                                "status": "succeeded",
                                "payment_method": method,
                                "amount": amount // 4 or 1,
                                "note": "Partial refund",
                                "paid_at": iso(pay_time + 5 * DAY),
                                "category": "refund",
                            }
                        )
                elif inv_status == "open" and rng.random() < 0.15:
                    part = amount // 2
                    payments.append(
                        {
                            "id": self.pid("pmt_"),
                            "status": "succeeded",
                            "payment_method": method,
                            "amount": part,
                            "note": "Deposit",
                            "paid_at": iso(inv_date),
                            "category": "deposit",
                        }
                    )
            collected = sum(
                p["amount"]
                for p in payments
                if p["status"] in ("succeeded", "paid") and p["category"] != "refund"
            )
            due_amount = (
                0 if inv_status in ("paid", "voided", "canceled") else max(0, amount - collected)
            )
            rec: Record = {
                "id": self.pid("invoice_"),
                "job_id": job["id"],
                "status": inv_status,
                "invoice_number": job["invoice_number"],
                "amount": amount,
                "subtotal": subtotal,
                "due_amount": due_amount,
                "due_at": iso(due),
                "display_due_concept": "Net 30" if net30 else "Due upon receipt",
                "due_concept": "net_30" if net30 else "upon_receipt",
                "paid_at": iso(paid_at) if paid_at else None,
                "sent_at": iso(sent) if sent else None,
                "service_date": job["schedule"]["scheduled_start"],
                "invoice_date": iso(inv_date),
                "items": [
                    {
                        "id": li["id"],
                        "name": li["name"],
                        "unit_cost": li["unit_cost"],
                        "unit_price": li["unit_price"],
                        "qty_in_hundredths": int(round(li["quantity"] * 100)),
                        "amount": li["amount"],
                        "description": li["description"],
                        "type": li["kind"],
                        "invoiced_amount": li["amount"],
                    }
                    for li in lines
                ],
                "taxes": taxes,
                "discounts": discounts,
                "payments": payments,
            }
            updated = max(t for t in (inv_date, sent or 0, paid_at or 0))
            self.hide("invoices", rec["id"], inv_date, updated)
            out.append(rec)
            jobs[i] = {**job, "outstanding_balance": due_amount}
        return out

    # leads, events ------------------------------------------------------------------------
    def leads(
        self,
        customers: list[Record],
        staff: list[Record],
        job_types: list[Record],
        jobs_by_customer: dict[str, list[str]],
    ) -> list[Record]:
        rng = self.rng
        picks = sorted(
            (self.between(self.start, self.anchor), self.rr(len(customers)))
            for _ in range(self.counts["leads"])
        )
        out = []
        for number, (created, ci) in enumerate(picks, start=1):
            c = customers[ci]
            if created > self.anchor - 20 * DAY and rng.random() < 0.7:
                status = "open"
            else:
                status = _weighted(rng, [("won", 50), ("lost", 35), ("open", 15)])
            jobs = jobs_by_customer.get(c["id"], [])
            conversions = (
                [{"id": jobs[self.rr(len(jobs))], "type": "Job"}]
                if status == "won" and jobs
                else []
            )
            lost_at = self.between(created, self.anchor) if status == "lost" else None
            a = c["addresses"][0]
            emp = staff[self.rr(len(staff))] if rng.random() < 0.7 else None
            rec: Record = {
                "id": self.pid("lea_"),
                "number": number,
                "customer": {
                    k: c[k]
                    for k in (
                        "id",
                        "first_name",
                        "last_name",
                        "email",
                        "company",
                        "notifications_enabled",
                        "mobile_number",
                        "home_number",
                        "work_number",
                        "tags",
                        "lead_source",
                    )
                },
                "address": {
                    k: a[k] for k in ("id", "city", "state", "street", "street_line_2", "zip")
                },
                "lead_source": c["lead_source"],
                "tags": [],
                "assigned_employee": emp,
                "status": status,
                "pipeline_status": {"open": "New lead", "won": "Won", "lost": "Lost"}[status],
                "lost_at": iso(lost_at) if lost_at else None,
                "job_fields": {
                    "job_type": job_types[self.rr(len(job_types))],
                    "business_unit": None,
                },
                "total_amount": self.rr(100, 3000) * 100,
                "conversions": conversions,
                "company_name": self.company_name,
                "company_id": self.company_id,
            }
            self.hide("leads", rec["id"], created, max(created, lost_at or created))
            out.append(rec)
        return out

    def events(self, staff: list[Record]) -> list[Record]:
        rng = self.rng
        out = []
        for _ in range(self.counts["events"]):
            created = self.between(self.start, self.anchor)
            start, end, _ = self.slot(created, 30)
            all_day = rng.random() < 0.2
            a = self.address("service")
            rec: Record = {
                "id": self.pid("evt_"),
                "name": V.EVENT_NAMES[self.rr(len(V.EVENT_NAMES))],
                "note": "Shop" if rng.random() < 0.5 else None,
                "tags": [],
                "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO" if rng.random() < 0.1 else None,
                "address": {k: a[k] for k in ("street", "street_line_2", "city", "state", "zip")},
                "assigned_employees": [staff[self.rr(len(staff))]],
                "schedule": {
                    "start_time": iso(start),
                    "end_time": iso(end),
                    "time_zone": self.s.time_zone,
                },
                "all_day": all_day,
                "created_at": iso(created),
                "updated_at": iso(min(self.anchor, created + self.rr(0, 5 * DAY))),
                "company_name": self.company_name,
                "company_id": self.company_id,
            }
            out.append(rec)
        return out

    # price book ----------------------------------------------------------------------------
    def price_book(self) -> tuple[list[Record], list[Record]]:
        rng = self.rng
        cats: list[Record] = []
        mats: list[Record] = []
        t = self.start - 200 * DAY

        def category(name: str, parent: str | None) -> Record:
            nonlocal t
            t += DAY
            rec = {
                "object": "material_category",
                "uuid": self.pid("pbmcat_"),
                "parent_uuid": parent,
                "name": name,
                "image": None,
                "created_at": iso(t),
                "updated_at": iso(t + self.rr(0, 300) * DAY),
            }
            cats.append(rec)
            for _ in range(self.rr(2, 6)):
                t += HOUR
                cost = self.rr(2, 400) * 100 + rng.choice((0, 49, 99))
                mat = {
                    "object": "material",
                    "uuid": self.pid("pbmat_"),
                    "material_category_uuid": rec["uuid"],
                    "material_category_name": name,
                    "name": f"{V.MATERIAL_WORDS[self.rr(len(V.MATERIAL_WORDS))]} {name.rstrip('s').lower()}",
                    "description": None,
                    "image": None,
                    "cost": cost,
                    "price": cost * 2,
                    "unit_of_measure": V.UNITS[self.rr(len(V.UNITS))],
                    "part_number": f"LS-{self.rr(10000, 99999)}",
                    "flat_rate_enabled": rng.random() < 0.3,
                    "taxable": True,
                }
                self.hide("materials", mat["uuid"], t, t + self.rr(0, 200) * DAY)
                mats.append(mat)
            return rec

        for root, children in V.MATERIAL_TREE:
            r = category(root, None)
            for child, grandchildren in children:
                c = category(child, r["uuid"])
                for g in grandchildren:
                    category(g, c["uuid"])
        return cats, mats

    def price_forms(self, techs: list[Record]) -> list[Record]:
        rng = self.rng
        out = []
        for i, (name, _, base) in enumerate(V.JOB_TYPES[:6]):
            fields = []
            for j, fname in enumerate(("Size", "Access")):
                fields.append(
                    {
                        "id": self.pid("pbpff_"),
                        "name": fname,
                        "price": 0,
                        "kind": "dropdown",
                        "order_index": j,
                        "duration_in_minutes": 0,
                        "options": {
                            "data": [
                                {
                                    "id": (oid := self.pid("pbpffo_")),
                                    "name": label,
                                    "price": base * m // 4,
                                    "upper_bound": None,
                                    "lower_bound": None,
                                    "duration_in_minutes": 30 * m,
                                    "uuid": oid,
                                }
                                for m, label in enumerate(("Small", "Medium", "Large"), start=1)
                            ]
                        },
                        "service_area_fields": {"data": []},
                        "assigned_pros": [],
                        "assigned_tags": [],
                    }
                )
            rec = {
                "object": "price_form",
                "id": self.pid("pbpf_"),
                "kind": "standard",
                "name": f"{name} pricing",
                "description": f"Flat-rate pricing for {name.lower()}",
                "automatically_add_to_new_job": False,
                "olb_enabled": rng.random() < 0.5,
                "duration_in_minutes": 60 + 30 * (i % 3),
                "taxable": True,
                "template_type": "custom",
                "dynamic_duration_enabled": False,
                "order_index": i,
                "question_1": None,
                "question_2": None,
                "route_mode_enabled": False,
                "enable_advanced_calculation": False,
                "bookable_as": "service",
                "service_area_pricing_enabled": False,
                "image_url": None,
                "assigned_pros": [
                    {"id": e["id"], "full_name": f"{e['first_name']} {e['last_name']}"}
                    for e in techs[:2]
                ],
                "assigned_tags": [],
                "assigned_route_templates": [],
                "fields": {"data": fields},
            }
            self.hide("price_forms", rec["id"], self.start - (50 - i) * DAY)
            out.append(rec)
        return out

    def services(self, materials: list[Record], techs: list[Record]) -> list[Record]:
        rng = self.rng
        labor = {
            "object": "labor_rate",
            "uuid": self.pid("pblr_"),
            "name": "Standard labor",
            "hourly_cost": 3500,
            "hourly_price": 12500,
            "default": True,
            "services_count": 0,
        }
        out = []
        n = 0
        for ji, (jt, descriptions, base) in enumerate(V.JOB_TYPES):
            for d in descriptions:
                n += 1
                mats = [materials[self.rr(len(materials))] for _ in range(self.rr(0, 3))]
                rec = {
                    "object": "service",
                    "uuid": self.pid("pbsvc_"),
                    "name": d,
                    "task_number": f"T-{100 + n}",
                    "description": None,
                    "image": None,
                    "flat_rate_enabled": True,
                    "service_materials": {
                        "object": "list",
                        "data": [
                            {"object": "service_material", "quantity": 1.0, "material": m}
                            for m in mats
                        ],
                    },
                    "service_labor_rates": {
                        "object": "list",
                        "data": [
                            {
                                "object": "service_labor_rate",
                                "number_of_hours": "1.5",
                                "labor_rate": labor,
                            }
                        ],
                    },
                    "managed_by": None,
                    "price": base or 9900,
                    "cost": (base or 9900) // 3,
                    "taxable": True,
                    "unit_of_measure": "each",
                    "category": {"id": 1000 + ji, "name": jt},
                    "industry": {
                        "id": 1 if ji < 4 or ji in (7, 8) else 2,
                        "name": "Plumbing" if ji < 4 or ji in (7, 8) else "HVAC",
                    },
                    "online_booking_enabled": rng.random() < 0.4,
                    "duration": 60 * (1 + self.rr(3)),
                    "bookable_as": "service",
                    "assigned_pros": {
                        "object": "list",
                        "data": [
                            {
                                "object": "assigned_pro",
                                "uuid": e["id"],
                                "full_name": f"{e['first_name']} {e['last_name']}",
                            }
                            for e in techs[:3]
                        ],
                    },
                    "question_1": None,
                    "question_2": None,
                }
                self.hide("services", rec["uuid"], self.start - (100 - n) * DAY)
                out.append(rec)
        labor["services_count"] = len(out)
        return out

    def service_zones(self, techs: list[Record]) -> list[Record]:
        out = []
        for i, (city, state, zips) in enumerate(V.CITIES[:4]):
            rec = {
                "id": _uuid(self.rng),
                "name": f"{city} zone",
                "coverage_type": "zip_codes" if i % 2 == 0 else "cities",
                "trip_charge": 4900 if i else 0,
                "fee_name": "Trip charge",
                "zip_codes": list(zips),
                "cities": [{"city": city, "state": state, "country": "US"}],
                "service_pros": [
                    {
                        "id": e["id"],
                        "first_name": e["first_name"],
                        "last_name": e["last_name"],
                        "email": e["email"],
                        "full_name": f"{e['first_name']} {e['last_name']}",
                    }
                    for e in techs[i % 3 :: 3]
                ],
            }
            self.hide("service_zones", rec["id"], self.start - (10 - i) * DAY)
            out.append(rec)
        return out

    def routes(self, techs: list[Record]) -> list[Record]:
        """One route per tech per day with appointments, for the 60 days around the anchor."""
        lo = self.anchor - 60 * DAY
        hi = self.anchor + 21 * DAY
        by_day: dict[tuple[str, str], list[Record]] = {}
        tech_ids = {e["id"]: e for e in techs}
        for ts, appt, job_id in self.appts:
            if not lo <= ts < hi or not appt["dispatched_employees_ids"]:
                continue
            emp = appt["dispatched_employees_ids"][0]
            if emp not in tech_ids:
                continue
            day = datetime.fromtimestamp(ts, self.tz).date().isoformat()
            by_day.setdefault((day, emp), []).append({"id": appt["id"], "job_id": job_id})
        out = []
        for (day, emp), appts in sorted(by_day.items()):
            e = tech_ids[emp]
            rec = {
                "id": self.pid("rte_"),
                "name": f"{e['first_name']} {e['last_name']}",
                "color_hex": e["color_hex"],
                "date": day,
                "employee_ids": [emp],
                "job_appointments": appts,
                "event_ids": [],
                "estimate_ids": [],
            }
            created = int(parse_iso(day) or 0) - DAY
            self.hide("routes", rec["id"], created)
            out.append(rec)
        return out

    def company(self) -> Record:
        return {
            "id": self.company_id,
            "name": self.company_name,
            "support_email": "office@lonestar-plumbing.example",
            "phone_number": "(512) 555-0100",
            "logo_url": "https://example.com/logos/lonestar.png",
            "address": {
                "street": "4100 Industrial Blvd",
                "street_line_2": None,
                "city": "Austin",
                "state": "TX",
                "country": "US",
                "zip": "78744",
                "latitude": "30.2",
                "longitude": "-97.7",
            },
            "website": "https://lonestar-plumbing.example",
            "default_arrival_window": 60,
            "time_zone": self.s.time_zone,
            "service_areas_data": {"zip_codes": [z for _, _, zips in V.CITIES for z in zips]},
            "franchise_info": {
                "root_franchisor_id": self.company_id,
                "franchisor_depth": 0,
                "metadata": {},
            },
            "locations": [],
        }

    # all -----------------------------------------------------------------------------------
    def build(self) -> Dataset:
        employees, inactive = self.employees()
        techs = [e for e in employees if e["role"] == "field tech"]
        tags = self.named("tags", "tag_", list(V.TAGS))
        job_types = self.named("job_types", "jbt_", [jt for jt, _, _ in V.JOB_TYPES])
        lead_sources = self.lead_sources()
        customers = self.customers(tags)
        embeds = [{k: v for k, v in c.items() if k != "addresses"} for c in customers]
        estimates, approved = self.estimates(customers, embeds, techs, job_types)
        jobs = self.jobs(customers, embeds, techs, inactive, job_types, tags, approved)
        invoices = self.invoices(jobs, {c["id"]: c for c in customers})
        jobs_by_customer: dict[str, list[str]] = {}
        for j in jobs:
            jobs_by_customer.setdefault(j["customer"]["id"], []).append(j["id"])
        leads = self.leads(customers, employees, job_types, jobs_by_customer)
        events = self.events(employees)
        categories, materials = self.price_book()
        records = {
            "customers": customers,
            "jobs": jobs,
            "estimates": estimates,
            "invoices": invoices,
            "leads": leads,
            "lead_sources": lead_sources,
            "employees": employees,
            "tags": tags,
            "job_types": job_types,
            "events": events,
            "materials": materials,
            "material_categories": categories,
            "price_forms": self.price_forms(techs),
            "services": self.services(materials, techs),
            "service_zones": self.service_zones(techs),
            "routes": self.routes(techs),
        }
        return Dataset(
            records=records, hidden=self.hidden, company=self.company(), inactive_employees=inactive
        )


def build_dataset(settings: SandboxSettings) -> Dataset:
    """The seeded shop for `settings.seed` / `settings.scale` (pure: no I/O, no wall clock)."""
    # The cyclic GC would rescan the growing heap many times over while ~10^5 acyclic dicts
    # are allocated; pausing it makes scale 10 several times faster.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _Builder(settings).build()
    finally:
        if was_enabled:
            gc.enable()


_LINE_NAMES = {
    "labor": ("Labor", "Diagnostic fee", "Service call"),
    "materials": ("Parts & materials", "Fittings", "Replacement part"),
}


def job_line_items(seed: int, job: Record) -> list[Record]:
    """A job's line items, derived from the job (not stored: one request per job reads them).

    They always sum to the job's `subtotal`, and invoices reuse them as their `items`.
    """
    rng = random.Random(f"{seed}|{job['id']}")
    subtotal = int(job.get("subtotal") or 0)
    job_id = job["id"]
    n_mat = rng.randrange(0, 3) if subtotal >= 1000 else 0
    items: list[Record] = []
    remaining = subtotal
    for k in range(n_mat):
        qty = float(1 + rng.randrange(4))
        unit = max(1, int(subtotal * (0.05 + rng.random() * 0.15) / qty))
        amount = int(unit * qty)
        remaining -= amount
        items.append(_line(rng, job_id, k + 1, "materials", unit, qty, amount))
    items.insert(0, _line(rng, job_id, 0, "labor", remaining, 1.0, remaining))
    return items


def _line(
    rng: random.Random, job_id: str, idx: int, kind: str, unit: int, qty: float, amount: int
) -> Record:
    rid = "rli_" + f"{rng.getrandbits(128):032x}"
    names = _LINE_NAMES[kind]
    return {
        "object": "line_item",
        "id": rid,
        "name": names[rng.randrange(len(names))],
        "description": None,
        "unit_price": unit,
        "unit_cost": unit // 3,
        "unit_of_measure": None if kind == "labor" else "each",
        "quantity": qty,
        "kind": kind,
        "taxable": kind == "materials",
        "amount": amount,
        "order_index": idx,
        "service_item_id": None,
        "service_item_type": None,
        "duration_in_minutes": 60 if kind == "labor" else None,
        "url": f"/jobs/{job_id}/line_items/{rid}",
    }
