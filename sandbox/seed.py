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

from sandbox import seed_vocab as V
from sandbox.clock import iso, parse_iso
from sandbox.seed_base import (
    DAY,
    HOUR,
    LEAD_CUSTOMER_KEYS,
    Dataset,
    Record,
    _hex,
    _weighted,
)
from sandbox.seed_catalog import CatalogBuilder
from sandbox.settings import SandboxSettings

__all__ = ["Dataset", "Record", "build_dataset", "job_line_items"]

DEPOSIT_SHARE = 0.6
"""Share of billed jobs (pro-canceled ones excepted) with a deposit and a final invoice."""


class _Builder(CatalogBuilder):
    """The big, scaled objects: customers, estimates, jobs, invoices, leads, events."""

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
    def invoices(self, jobs: list[Record]) -> list[Record]:
        """One invoice per billed job, or, for DEPOSIT_SHARE of them, a deposit and a final one.

        Both repeat the job's subtotal, items, taxes and discounts (as live HCP does; issue 20);
        the deposit bills part of the total and the final invoice the rest. Deposits draw from
        their own random stream, so every other seeded record is what it was without them.
        """
        rng = self.rng
        deposits = random.Random(f"{self.s.seed}|deposits")
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
            with_deposit = status != "pro canceled" and deposits.random() < DEPOSIT_SHARE
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
            items = [
                {
                    "id": li["id"],
                    "name": li["name"],
                    "unit_cost": li["unit_cost"],
                    "unit_price": li["unit_price"],
                    "qty_in_hundredths": int(round(li["quantity"] * 100)),
                    "amount": li["amount"],
                    "description": li["description"],
                    "type": li["kind"],
                }
                for li in lines
            ]
            number = job["invoice_number"]
            if with_deposit:
                deposit = self._deposit(deposits, job, inv_date, amount, items, taxes, discounts)
                out.append(deposit)
                amount -= deposit["amount"]
                number += "-2"
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
                "invoice_number": number,
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
                "items": items,
                "taxes": taxes,
                "discounts": discounts,
                "payments": payments,
            }
            updated = max(t for t in (inv_date, sent or 0, paid_at or 0))
            self.hide("invoices", rec["id"], inv_date, updated)
            out.append(rec)
            jobs[i] = {**job, "outstanding_balance": due_amount}
        return out

    def _deposit(
        self,
        rng: random.Random,
        job: Record,
        final_date: int,
        total: int,
        items: list[Record],
        taxes: list[Record],
        discounts: list[Record],
    ) -> Record:
        """The paid deposit invoice of a job: same subtotal, items, taxes and discounts as the
        final invoice, dated between the job's creation and the final invoice, billing a share
        of the total (the final invoice bills the rest)."""
        created = int(parse_iso(job["created_at"]) or final_date)
        latest = final_date - HOUR
        dated = created + int(rng.random() * (latest - created)) if latest > created else latest
        amount = max(1, total * (25, 30, 40, 50)[rng.randrange(4)] // 100)
        rid = "invoice_" + _hex(rng)
        method = ("credit_card", "ach")[rng.random() < 0.2]
        self.hide("invoices", rid, dated)

        def again(entries: list[Record], prefix: str) -> list[Record]:
            return [{**e, "id": prefix + _hex(rng)} for e in entries]

        return {
            "id": rid,
            "job_id": job["id"],
            "status": "paid",
            "invoice_number": job["invoice_number"] + "-1",
            "amount": amount,
            "subtotal": sum(li["amount"] for li in items),
            "due_amount": 0,
            "due_at": iso(dated),
            "display_due_concept": "Due upon receipt",
            "due_concept": "upon_receipt",
            "paid_at": iso(dated),
            "sent_at": iso(dated),
            "service_date": job["schedule"]["scheduled_start"],
            "invoice_date": iso(dated),
            "items": items,
            "taxes": again(taxes, "tax_"),
            "discounts": again(discounts, "dis_"),
            "payments": [
                {
                    "id": "pmt_" + _hex(rng),
                    "status": "succeeded",
                    "payment_method": method,
                    "amount": amount,
                    "note": "Deposit",
                    "paid_at": iso(dated),
                    "category": "deposit",
                }
            ],
        }

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
                "customer": {k: c[k] for k in LEAD_CUSTOMER_KEYS},
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
        invoices = self.invoices(jobs)
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
