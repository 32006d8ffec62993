"""Lead -> HCP customer mapping: names, emails, phones, routes and per-route field mapping."""

from __future__ import annotations

import pytest

from pipelines.config import ConfigError
from pipelines.leads.mapping import (
    InvalidLead,
    Profile,
    StagedLead,
    map_lead,
    normalise_email,
    parse_phone,
    split_name,
)
from pipelines.leads.profiles import ProfileBook, load_profiles, parse_profiles


def lead(**kw: object) -> StagedLead:
    kw.setdefault("lead_id", "L1")
    return StagedLead(**kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("Jane Doe", "Jane", "Doe"),
        ("Cher", "Cher", None),
        ("Mary Ann van der Berg", "Mary", "Ann van der Berg"),
        ("  José   María  Núñez ", "José", "María Núñez"),
        ("李 小龙", "李", "小龙"),
        ("", None, None),
        ("   ", None, None),
        (None, None, None),
    ],
)
def test_split_name_on_first_space(name: str | None, first: str | None, last: str | None) -> None:
    assert split_name(name) == (first, last)


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        # honorifics are left out (HCP has no title field)
        ("Dr. John Smith", "John", "Smith"),
        ("Mrs Jane Doe", "Jane", "Doe"),
        ("prof. Ann Lee", "Ann", "Lee"),
        ("Mr. Smith", None, "Smith"),  # a title before one word: the family name
        ("Dr.", "Dr.", None),  # nothing else: kept as written
        # suffixes stay with the last name, commas or not
        ("John Smith, Jr.", "John", "Smith Jr."),
        ("John Smith III", "John", "Smith III"),
        ("Mary Ann Smith Sr.", "Mary", "Ann Smith Sr."),
        # "Last, First"
        ("Smith, John", "John", "Smith"),
        ("Smith, Mary Ann", "Mary Ann", "Smith"),
        ("Smith, John Jr.", "John", "Smith Jr."),
        ("Smith, Dr. John", "John", "Smith"),
        # the first-space rule otherwise
        ("Drew Barrymore", "Drew", "Barrymore"),  # "Drew" is not "Dr"
        ("Jr Smith", "Jr", "Smith"),  # a suffix only counts after a name
    ],
)
def test_the_first_space_rules_exceptions(name: str, first: str | None, last: str | None) -> None:
    assert split_name(name) == (first, last)


def test_a_left_out_honorific_is_reported() -> None:
    mapped = map_lead(lead(name="Dr. John Smith", email="j@x.io"), Profile())
    assert (mapped.payload["first_name"], mapped.payload["last_name"]) == ("John", "Smith")
    assert mapped.dropped == ("honorific 'Dr.': left out of the name (HCP has no title field)",)


def test_explicit_first_and_last_win_over_full_name() -> None:
    mapped = map_lead(
        lead(name="Ignored Name", first_name="Ann", last_name="Lee", email="a@b.co"), Profile()
    )
    assert (mapped.payload["first_name"], mapped.payload["last_name"]) == ("Ann", "Lee")


def test_unicode_name_is_nfc_normalised() -> None:
    decomposed = "Jose\u0301 Nu\u0301n\u0303ez"
    mapped = map_lead(lead(name=decomposed, email="j@x.io"), Profile())
    assert mapped.payload["first_name"] == "José"
    assert mapped.payload["last_name"] == "Núñez"


def test_lead_without_name_is_sent_with_contact_only() -> None:
    mapped = map_lead(lead(email="only@email.com"), Profile())
    assert mapped.payload == {"email": "only@email.com"}


# ---------------------------------------------------------------- emails


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("first+tag@sub.domain.org", "first+tag@sub.domain.org"),
        ("mailto:Bob@x.io", "bob@x.io"),
        ("", None),
        (None, None),
    ],
)
def test_email_trimmed_and_lower_cased(raw: str | None, expected: str | None) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("plainaddress", "exactly one @"),
        ("a@@b.com", "exactly one @"),
        ("two words@x.com", "spaces"),
        ("no-tld@example", "not an email"),
        ("@example.com", "not an email"),
        ("dots..twice@example.com", "not an email"),
        ("x@-bad-.com", "not an email"),
        ("a" * 250 + "@x.com", "limit 254"),
    ],
)
def test_bad_email_reason(raw: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        normalise_email(raw)


def test_bad_email_with_good_phone_is_sent_without_email() -> None:
    mapped = map_lead(lead(name="A B", email="nope", phone="415-555-2671"), Profile())
    assert "email" not in mapped.payload
    assert mapped.payload["mobile_number"] == "4155552671"
    assert mapped.dropped == ("email 'nope': needs exactly one @",)


# ---------------------------------------------------------------- phones


@pytest.mark.parametrize(
    "raw",
    [
        "(415) 555-2671",
        "415-555-2671",
        "415.555.2671",
        "4155552671",
        "+1 415 555 2671",
        "1-415-555-2671",
    ],
)
def test_us_formats_become_ten_digits(raw: str) -> None:
    phone = parse_phone(raw)
    assert phone is not None and phone.domestic
    assert phone.digits == "4155552671"


@pytest.mark.parametrize("area", ["800", "833", "844", "855", "866", "877", "888"])
def test_toll_free_numbers_are_sent_as_work_number(area: str) -> None:
    """HCP texts the mobile number; a toll-free number cannot receive texts."""
    mapped = map_lead(lead(name="Ann Lee", email="a@x.io", phone=f"{area}-555-0199"), Profile())
    assert "mobile_number" not in mapped.payload
    assert mapped.payload["work_number"] == f"{area}5550199"
    assert mapped.dropped == (
        f"phone '({area}) 555-0199': toll-free, sent as work_number (HCP texts the mobile "
        "number, and a toll-free number cannot receive texts)",
    )


def test_toll_free_phone_only_lead_needs_a_name_to_be_found_again() -> None:
    named = map_lead(lead(name="Ann Lee", phone="1-800-555-0199"), Profile())
    assert named.phone == "8005550199" and named.payload["work_number"] == "8005550199"
    with pytest.raises(InvalidLead, match="toll-free phone .* and no email or name"):
        map_lead(lead(phone="1-800-555-0199"), Profile())


def test_extension_goes_to_notes_and_is_reported() -> None:
    mapped = map_lead(lead(email="e@x.io", phone="415-555-2671 ext. 12"), Profile())
    assert mapped.payload["mobile_number"] == "4155552671"
    assert "Phone extension: 12" in mapped.payload["notes"]
    assert any("extension" in d for d in mapped.dropped)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("garbage", "not a phone number"),
        ("555-1234", "not a valid"),
        ("+1 111 111 1111", "not a valid"),
        ("12", "not a"),
    ],
)
def test_garbage_phone_reason(raw: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_phone(raw)


def test_bad_phone_with_good_email_is_sent_without_phone() -> None:
    mapped = map_lead(lead(email="ok@x.io", phone="call me"), Profile())
    assert "mobile_number" not in mapped.payload
    assert mapped.dropped == ("phone 'call me': not a phone number",)


def test_international_phone_moved_to_notes_by_default() -> None:
    mapped = map_lead(
        lead(email="uk@x.io", phone="+44 20 7946 0958", notes="Prefers mornings"), Profile()
    )
    assert "mobile_number" not in mapped.payload
    assert mapped.payload["notes"] == "Prefers mornings\nPhone (non-US): +44 20 7946 0958"
    assert mapped.dropped == ("phone '+44 20 7946 0958': non-US, moved to notes",)


def test_international_phone_rejected_by_route_policy() -> None:
    with pytest.raises(InvalidLead, match="non-US phone .* rejected by route 'us_only'"):
        map_lead(
            lead(email="uk@x.io", phone="+44 20 7946 0958"),
            Profile(name="us_only", non_us_phone="reject"),
        )


def test_international_phone_only_lead_is_invalid() -> None:
    with pytest.raises(InvalidLead, match="no valid email or usable phone .*not a US number"):
        map_lead(lead(name="Kim", phone="+61 2 9374 4000"), Profile())


# ---------------------------------------------------------------- validity


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"name": "No Contact"}, "no valid email or usable phone$"),
        ({"name": "X", "email": "bad"}, r"no valid email or usable phone \(email 'bad'"),
        ({"name": "X", "phone": "123"}, r"no valid email or usable phone \(phone '123'"),
        ({"name": "X", "email": "bad", "phone": "nope"}, "email 'bad'.*phone 'nope'"),
        ({"name": "A\x00B", "email": "a@b.co"}, "control character U\\+0000 in name"),
        ({"company": "Acme\x1b", "email": "a@b.co"}, "control character U\\+001B in company"),
        ({"name": "N" * 300, "email": "a@b.co"}, "name is 300 characters"),
        ({"notes": "n" * 10_001, "email": "a@b.co"}, "notes is 10001 characters"),
    ],
)
def test_invalid_leads_have_clear_reasons(kw: dict, why: str) -> None:
    with pytest.raises(InvalidLead, match=why):
        map_lead(lead(**kw), Profile())


def test_multiline_notes_kept_single_line_fields_collapsed() -> None:
    mapped = map_lead(lead(name="Ann\tLee", email="a@b.co", notes="line 1\nline 2"), Profile())
    assert mapped.payload["first_name"] == "Ann"
    assert mapped.payload["notes"] == "line 1\nline 2"


# ---------------------------------------------------------------- routes and field mapping


def test_lead_source_from_lead_then_route() -> None:
    route = Profile(lead_source="Website")
    assert (
        map_lead(lead(email="a@b.co", lead_source="Google Ads"), route).payload["lead_source"]
        == "Google Ads"
    )
    assert map_lead(lead(email="a@b.co"), route).payload["lead_source"] == "Website"
    assert "lead_source" not in map_lead(lead(email="a@b.co"), Profile()).payload


def test_per_route_field_mapping() -> None:
    route = Profile(
        name="ads",
        fields={
            "budget": "notes",
            "interest": "tags",
            "office": "work_number",
            "biz": "company",
            "zip": "address.zip",
            "city": "address.city",
            "campaign": "lead_source",
        },
        tags=("ads",),
        notifications_enabled=False,
    )
    staged = lead(
        name="Ann Lee",
        email="Ann@X.io",
        extra={
            "budget": "5000",
            "interest": "hvac, plumbing",
            "office": "212-555-0100",
            "biz": "Lee LLC",
            "zip": "10001",
            "city": "New York",
            "campaign": "Spring",
            "unmapped": "ignored",
        },
    )
    payload = map_lead(staged, route).payload
    assert payload == {
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@x.io",
        "company": "Lee LLC",
        "lead_source": "Spring",
        "tags": ["ads", "hvac", "plumbing"],
        "work_number": "2125550100",
        "addresses": [{"zip": "10001", "city": "New York"}],
        "notes": "Budget: 5000",
        "notifications_enabled": False,
    }


def test_mapped_bad_work_number_is_dropped_not_fatal() -> None:
    mapped = map_lead(
        lead(email="a@b.co", extra={"office": "nope"}), Profile(fields={"office": "work_number"})
    )
    assert "work_number" not in mapped.payload
    assert mapped.dropped == ("work_number 'nope': not a phone number",)


def test_route_file(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_profiles().get(None) == Profile()  # no file: the built-in default route
    (tmp_path / "leads_routes.toml").write_text(
        'default_route = "web"\n'
        '[routes.web]\nlead_source = "Website"\n'
        '[routes.web.fields]\n"Monthly Budget" = "notes"\n'
        '[routes.uk]\nnon_us_phone = "reject"\ntags = "uk"\non_existing = "skip"\n',
        encoding="utf-8",
    )
    book = load_profiles()
    assert book.get("web").on_existing == "link"  # the default: HCP's customer is linked
    assert book.get("uk").on_existing == "skip"
    assert book.get(None).lead_source == "Website"
    assert book.get("").name == "web"
    assert book.get("web").fields == {"monthly_budget": "notes"}
    assert book.get("uk").non_us_phone == "reject" and book.get("uk").tags == ("uk",)
    with pytest.raises(KeyError, match="unknown route 'nope'.*known: uk, web"):
        book.get("nope")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"routes": {"r": {"non_us_phone": "drop"}}}, "'reject' or 'notes'"),
        ({"routes": {"r": {"fields": {"x": "favourite_colour"}}}}, "targets are"),
        ({"routes": {"r": {"lead_sorce": "typo"}}}, "unknown keys"),
        ({"routes": {"r": {}}, "default_route": "missing"}, "default_route 'missing'"),
        (
            {"routes": {"r": {"on_existing": "merge"}}},
            r"routes\.r\.on_existing must be one of 'create', 'link', 'skip', not 'merge'",
        ),
        ({"routes": {"r": {"on_existing": True}}}, r"routes\.r\.on_existing must be one of"),
    ],
)
def test_bad_route_config_is_a_config_error(data: dict, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        parse_profiles(data)


def test_routebook_default_without_file() -> None:
    assert ProfileBook().get("default").name == "default"
