"""The shop-sized objects of the seed: employees, picklists, price book, zones, routes, company.

They do not grow with `scale` (a bigger shop has more customers, not more job types).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox import seed_vocab as V
from sandbox.clock import iso, parse_iso
from sandbox.seed_base import DAY, HOUR, BuilderBase, Record, _uuid


class CatalogBuilder(BuilderBase):
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
