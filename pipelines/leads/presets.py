"""Built-in column presets: lead files exactly as ad platforms export them, loaded with no mapping.

A preset is recognised from the header (every column of one of its signature sets is there), and
then says which platform column holds which staged field, which Lead Source the platform's leads
get when nothing else names one, and how the platform marks its test leads. Sources:

- Facebook Lead Ads (Meta): the CSV/TSV download of a form's leads (Ads Manager / Page "Forms
  library"): `id, created_time, ad_id, ad_name, adset_id, adset_name, campaign_id,
  campaign_name, form_id, form_name, is_organic, platform, <custom questions>, <standard
  questions: full_name, email, phone_number, ...>`. Standard question keys as in the Marketing
  API's lead `field_data` (`full_name`, `first_name`, `last_name`, `email`, `phone_number`,
  `work_email`, `work_phone_number`, `company_name`, `zip_code`, ...). Test leads: the Lead Ads
  Testing Tool fills a lead "with dummy data" whose values read `<test lead: dummy data for
  FIELD>`; `is_organic` is NOT a test marker (the tool's leads are organic, but so is every real
  lead from a form shown outside an ad), so only the dummy values are detected.
- Google Ads lead forms: the "Download leads" CSV: `Lead ID, Campaign, Ad group, Form name,
  Full name, User email, User phone, Postal code, Submit time, Is test` (+ other questions such
  as Work email, Work phone, Company name, Job title). `Is test` TRUE marks test leads (the lead
  form webhook's `is_test` field: "Denotes if the lead is a test lead").
- LinkedIn Lead Gen Forms: Campaign Manager's lead export, with the predefined fields' names
  (`First Name, Last Name, Email Address, Phone Number, Company Name, Job Title, Country/Region,
  LinkedIn Profile URL, ...`). Recognised by first/last name plus the LinkedIn profile URL column
  (the LINKEDIN_PROFILE_URL predefined field of the Lead Sync API), which generic CRM exports do
  not have. Test leads: a `Test Lead` / `Is Test` column that is true (the Lead Sync API's
  `testLead` flag), when the export has one.

Columns a preset does not name go through the loader's generic aliases, then to `extra`. A
route's `[routes.X.fields]` entry for a column wins over the preset's choice (the loader applies
that). This module is data and pure functions: it never reads files, opens the database or
talks to HCP, and never decides whether a lead is valid (only whether the platform marked it a
test).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

TRUE_VALUES = ("true", "yes", "1", "y")


@dataclass(frozen=True)
class Preset:
    """One platform's export shape (column names lower snake case, as the loader compares them)."""

    name: str  # "Facebook Lead Ads": said in the summary; the default Lead Source
    signatures: tuple[frozenset[str], ...]  # recognised when every column of one set is there
    columns: Mapping[str, str]  # column -> staged field; the first present column of a field wins
    test_columns: tuple[str, ...] = ()  # a true value in one of them marks a test lead
    test_value_prefix: str | None = None  # a cell starting with this marks a test lead

    def test_reason(self, cells: Mapping[str, str]) -> str | None:
        """ "test lead from <platform>" when the row is the platform's test lead, else None."""
        flagged = any(
            (cells.get(c) or "").strip().lower() in TRUE_VALUES for c in self.test_columns
        )
        if not flagged and self.test_value_prefix:
            prefix = self.test_value_prefix
            flagged = any(v.strip().lower().startswith(prefix) for v in cells.values() if v)
        return f"test lead from {self.name}" if flagged else None


FACEBOOK = Preset(
    name="Facebook Lead Ads",
    signatures=(frozenset({"id", "created_time", "ad_id", "adset_id", "form_id"}),),
    columns={
        "id": "lead_id",
        "full_name": "name",
        "email": "email",
        "work_email": "email",
        "phone_number": "phone",
        "work_phone_number": "phone",
        "company_name": "company",
    },
    test_value_prefix="<test lead",
)
GOOGLE_ADS = Preset(
    name="Google Ads",
    signatures=(frozenset({"lead_id", "campaign", "ad_group", "form_name"}),),
    columns={
        "lead_id": "lead_id",
        "full_name": "name",
        "user_email": "email",
        "work_email": "email",
        "user_phone": "phone",
        "work_phone": "phone",
        "company_name": "company",
    },
    test_columns=("is_test",),
)
LINKEDIN = Preset(
    name="LinkedIn Lead Gen Forms",
    signatures=(frozenset({"first_name", "last_name", "linkedin_profile_url"}),),
    columns={
        "lead_id": "lead_id",
        "first_name": "first_name",
        "last_name": "last_name",
        "email_address": "email",
        "email": "email",
        "work_email": "email",
        "phone_number": "phone",
        "work_phone_number": "phone",
        "company_name": "company",
    },
    test_columns=("test_lead", "is_test"),
)
PRESETS: tuple[Preset, ...] = (FACEBOOK, GOOGLE_ADS, LINKEDIN)


def recognise(columns: Sequence[str]) -> Preset | None:
    """The preset whose signature the (normalised) header columns contain, if any."""
    present = set(columns)
    for preset in PRESETS:
        if any(signature <= present for signature in preset.signatures):
            return preset
    return None
