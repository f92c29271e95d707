"""Demo agency generator: realistic, deterministic for a seed, fast enough for 200,000 clients."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from ocms_data import clock, demo_sessions
from ocms_data.accounts import AGENCY_ADMIN, PROGRAM_MANAGER, UPLOADER, WORKER, add_user, hash_password
from ocms_data.db import Database
from ocms_data.errors import ValidationError
from ocms_data.reference import ICARE_FUNDER
from ocms_data.registry import default_catalog
from ocms_data.store.handle import Handle

DEMO_CODE = "DEMO"
FIRST_AGENCY = "first_agency"  # the meta row the first agency of an empty database claims: one, however many try
DEMO_PASSWORD = "demo-pass-2026"
DEMO_USERS = (  # user name, full name, roles, programs (an agency admin sees every program's work)
    ("admin", "Alex Admin", [AGENCY_ADMIN, WORKER], ()),
    ("manager", "Morgan Manager", [PROGRAM_MANAGER, WORKER], ("SETT", "CNSL")),
    ("uploader", "Uma Uploader", [UPLOADER, WORKER], ("SETT",)),
    ("worker", "Wen Worker", [WORKER], ("SETT", "LINC")),
    ("worker2", "Farah Haddad", [WORKER], ("EMPL",)),
)
SITES = (
    ("MAIN", "Maple Newcomer Centre - Main Office", "M5V 2T6", "Settlement service provider"),
    ("NRTH", "North York Library Hub", "M2N 5N9", "Public library"),
    ("SCAR", "Scarborough Community Centre", "M1P 4P5", "Community centre/neighbourhood house"),
    ("ONLN", "Online services", "M5V 2T6", "Online"),
)
PROGRAMS = (  # code, name, confidential
    ("SETT", "Settlement", False),
    ("LINC", "Language Instruction (LINC)", False),
    ("EMPL", "Employment", False),
    ("CNSL", "Counselling and wellbeing", True),
)
FUNDERS = ((ICARE_FUNDER, True), ("City of Toronto", False), ("United Way", False))
FIRST = [
    "Amina",
    "Omar",
    "Yusuf",
    "Fatima",
    "Ahmed",
    "Layla",
    "Hassan",
    "Zainab",
    "Ali",
    "Mariam",
    "Wei",
    "Li",
    "Jun",
    "Mei",
    "Hao",
    "Xin",
    "Priya",
    "Arjun",
    "Ananya",
    "Rahul",
    "Deepa",
    "Vikram",
    "Sofia",
    "Mateo",
    "Valentina",
    "Diego",
    "Camila",
    "Luis",
    "Olena",
    "Andriy",
    "Iryna",
    "Taras",
    "Natalia",
    "Ngozi",
    "Chinedu",
    "Adaeze",
    "Emeka",
    "Thi",
    "Minh",
    "Anh",
    "Quang",
    "Lan",
    "Hieu",
    "Jose",
    "Maria",
    "Ana",
    "Carlos",
    "Sara",
    "Dawit",
    "Selam",
    "Tigist",
]
LAST = [
    "Mohamed",
    "Ahmadi",
    "Rahimi",
    "Haddad",
    "Khalil",
    "Nasser",
    "Wang",
    "Zhang",
    "Chen",
    "Liu",
    "Huang",
    "Patel",
    "Singh",
    "Sharma",
    "Kaur",
    "Gupta",
    "Garcia",
    "Rodriguez",
    "Martinez",
    "Lopez",
    "Hernandez",
    "Kovalenko",
    "Shevchenko",
    "Bondarenko",
    "Melnyk",
    "Okafor",
    "Adeyemi",
    "Nwosu",
    "Nguyen",
    "Tran",
    "Pham",
    "Le",
    "Hoang",
    "Santos",
    "Reyes",
    "Cruz",
    "Bautista",
    "Tesfaye",
    "Bekele",
    "Girma",
    "Mengistu",
    "Rossi",
    "Haider",
]
STREETS = [
    "King",
    "Queen",
    "Dundas",
    "College",
    "Bloor",
    "Bathurst",
    "Yonge",
    "Sheppard",
    "Finch",
    "Lawrence",
    "Eglinton",
    "Kennedy",
]
POSTAL_LETTERS = list("ABCEGHJKLMNPRSTVWXYZ")
CLIENTS_PER_EXTRA_STAFF = 5000
FIRST_START_MONTHS = 3
INCOMPLETE_FIELDS = ("birth_date", "official_language", "consent_research", "identifier", "contact")


def _pick(rng: np.random.Generator, values, n: int, p=None) -> np.ndarray:
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=n, p=p)]


def _dates(rng: np.random.Generator, start: date, end: date, n: int) -> np.ndarray:
    days = rng.integers(0, max((end - start).days, 1), size=n)
    return np.datetime64(start) + days.astype("timedelta64[D]")


def _postal(rng: np.random.Generator, n: int) -> np.ndarray:
    first = _pick(rng, list("KLMNP"), n)
    d = rng.integers(0, 10, size=(n, 3)).astype(str)
    letters = _pick(rng, POSTAL_LETTERS, n * 2).reshape(n, 2)
    return first + d[:, 0] + letters[:, 0] + " " + d[:, 1] + letters[:, 1] + d[:, 2]


def _reference(cur: Handle, agency_id: int, code: str, extra_staff: int = 0) -> dict:
    ids = cur.next_id
    sites = []
    for site_code, name, postal, kind in SITES:
        sites.append(ids())
        cur.run(
            "INSERT INTO sites (id, agency_id, code, name, postal_code, institution_type) VALUES (?, ?, ?, ?, ?, ?)",
            [sites[-1], agency_id, site_code, name, postal, kind],
        )
    programs = []
    for program_code, name, confidential in PROGRAMS:
        programs.append(ids())
        cur.run(
            "INSERT INTO programs (id, agency_id, code, name, confidential) VALUES (?, ?, ?, ?, ?)",
            [programs[-1], agency_id, program_code, name, confidential],
        )
    funders = []
    for name, icare in FUNDERS:
        funders.append(ids())
        cur.run(
            "INSERT INTO funders (id, agency_id, name, is_icare) VALUES (?, ?, ?, ?)",
            [funders[-1], agency_id, name, icare],
        )
    suffix = "" if code == DEMO_CODE else f".{code.lower()}"
    users = [
        add_user(cur, agency_id, u + suffix, name, DEMO_PASSWORD, roles, f"{u}{suffix}@example.org", sites[0])
        for u, name, roles, _programs in DEMO_USERS
    ]
    users += _extra_staff(cur, agency_id, suffix, extra_staff, sites)
    program_of = {code: programs[i] for i, (code, _n, _c) in enumerate(PROGRAMS)}
    open_programs = [programs[i] for i, (_code, _n, confidential) in enumerate(PROGRAMS) if not confidential]
    members = [(users[i], program_of[c]) for i, (*_u, codes) in enumerate(DEMO_USERS) for c in codes]
    members += [(uid, open_programs[i % len(open_programs)]) for i, uid in enumerate(users[len(DEMO_USERS) :])]
    cur.run_many(
        "INSERT INTO user_programs (user_id, program_id, agency_id) VALUES (?, ?, ?)",
        [[uid, program, agency_id] for uid, program in members],
    )
    return {"sites": sites, "programs": programs, "funders": funders, "users": users}


def _extra_staff(cur: Handle, agency_id: int, suffix: str, n: int, sites: list[int]) -> list[int]:
    """More workers for big demo agencies (one password hash shared: they are demo accounts)."""
    if n == 0:
        return []
    pw_hash = hash_password(DEMO_PASSWORD)
    ids = []
    for i in range(n):
        uid = cur.next_id()
        name = f"{FIRST[(i * 7) % len(FIRST)]} {LAST[(i * 11) % len(LAST)]}"
        cur.run(
            "INSERT INTO users (id, agency_id, username, full_name, email, pw_hash, roles, default_site_id) "
            "VALUES (?, ?, ?, ?, ?, ?, 'worker', ?)",
            [uid, agency_id, f"staff{i + 1:03d}{suffix}", name, None, pw_hash, sites[i % len(sites)]],
        )
        ids.append(uid)
    return ids


def _clients(rng: np.random.Generator, n: int, ref: dict, first_no: int, today: date) -> pd.DataFrame:
    codes = default_catalog().codes
    named = rng.random(n) >= 0.05
    birth = _dates(rng, date(1945, 1, 1), date(2014, 12, 31), n)
    arrival = birth + (rng.integers(0, 20_000, size=n)).astype("timedelta64[D]")
    arrival = np.minimum(arrival, np.datetime64(today - timedelta(days=30)))
    arrival = np.maximum(arrival, birth)
    landing = arrival + rng.integers(0, 900, size=n).astype("timedelta64[D]")
    landing = np.where(landing > np.datetime64(today), arrival, landing)
    first = _pick(rng, FIRST, n)
    last = _pick(rng, LAST, n)
    consent = _pick(rng, ["Yes", "No"], n, [0.7, 0.3])
    df = pd.DataFrame(
        {
            "client_no": np.arange(first_no, first_no + n),
            "client_type": np.where(named, "Named", "Anonymous"),
            "privacy_ack": np.where(named, "Yes", None),
            "first_name": np.where(named, first, None),
            "last_name": np.where(named, last, None),
            "gender": _pick(rng, codes("gender")[:3], n, [0.52, 0.46, 0.02]),
            "birth_date": birth,
            "marital_status": _pick(rng, codes("marital_status"), n),
            "official_language": _pick(rng, codes("official_language"), n, [0.85, 0.1, 0.05]),
            "arrival_date": arrival,
            "landing_date": landing,
            "country_of_origin": _pick(
                rng,
                [
                    "Syria",
                    "Afghanistan",
                    "India",
                    "China",
                    "Ukraine",
                    "Nigeria",
                    "Vietnam",
                    "Philippines",
                    "Colombia",
                    "Eritrea",
                ],
                n,
            ),
            "immigration_class": _pick(rng, codes("immigration_class")[:6], n),
            "immigration_status": _pick(rng, codes("immigration_status")[:5], n, [0.6, 0.15, 0.1, 0.1, 0.05]),
            "consent_research": consent,
            "consent_contact": _pick(rng, ["Yes", "No"], n, [0.8, 0.2]),
            "email": rng.integers(1, 999, size=n).astype(str),
            "phone": np.char.add("416-555-", rng.integers(0, 10_000, size=n).astype(str).astype("U4")),
            "street_no": rng.integers(1, 3000, size=n).astype(str),
            "street_name": _pick(rng, STREETS, n),
            "street_type": _pick(rng, ["Street", "Avenue", "Road", "Drive"], n),
            "city": "Toronto",
            "province": "Ontario",
            "country": "Canada",
            "postal_code": _postal(rng, n),
            "employment_status": _pick(rng, codes("employment_status"), n),
            "education_level": _pick(rng, codes("education_level"), n),
            "housing_status": _pick(rng, codes("housing_status")[:5], n),
            "primary_worker": _pick(rng, ref["users"], n),
            "registration_date": _dates(rng, today - timedelta(days=3 * 365), today, n),
            "registration_site": _pick(rng, ref["sites"], n, [0.55, 0.2, 0.2, 0.05]),
            "arrival_year": pd.DatetimeIndex(arrival).year,
        }
    )
    df["phone"] = df["phone"].str.replace(r"-(\d{1,3})$", lambda m: "-" + m.group(1).zfill(4), regex=True)
    for col in ("email", "phone", "street_no", "street_name", "street_type", "city", "province", "country"):
        df.loc[~named, col] = None
    for col in (
        "birth_date",
        "marital_status",
        "official_language",
        "arrival_date",
        "landing_date",
        "country_of_origin",
        "immigration_class",
        "consent_research",
        "consent_contact",
        "employment_status",
        "education_level",
        "housing_status",
        "primary_worker",
    ):
        df.loc[~named, col] = None
    df.loc[named, "arrival_year"] = None
    df.loc[rng.random(n) < 0.3, "email"] = None
    return df


def _families(rng: np.random.Generator, df: pd.DataFrame) -> None:
    """Cut Named clients into runs of 1-4; runs of 2+ are families sharing name and address."""
    named_idx = np.flatnonzero(df["client_type"].to_numpy() == "Named")
    sizes = rng.choice([1, 2, 3, 4], size=len(named_idx), p=[0.7, 0.14, 0.1, 0.06])
    ends = np.cumsum(sizes)
    sizes = sizes[: np.searchsorted(ends, len(named_idx)) + 1]
    sizes[-1] -= int(sizes.sum() - len(named_idx))
    block = np.repeat(np.arange(len(sizes)), sizes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    head = named_idx[starts[block]]
    in_family = sizes[block] > 1
    family_no = np.cumsum(sizes > 1)[block]
    rows_in = named_idx[in_family]
    df.loc[rows_in, "family_code"] = [f"F{n:06d}" for n in family_no[in_family]]
    shared = [
        "last_name",
        "phone",
        "street_no",
        "street_name",
        "street_type",
        "postal_code",
        "arrival_date",
        "landing_date",
        "country_of_origin",
    ]
    for col in shared:
        values = df[col].to_numpy()
        df.loc[rows_in, col] = values[head[in_family]]
    for col in ("arrival_date", "landing_date"):
        df[col] = df[col].where(df[col].isna() | (df[col] >= df["birth_date"]), df["birth_date"])
    df.attrs["families"] = int((sizes > 1).sum())


def _incomplete(rng: np.random.Generator, df: pd.DataFrame, rate: float) -> np.ndarray:
    """Blank one iCARE field on a share of Named clients; returns who lacks an identifier."""
    named = df["client_type"].to_numpy() == "Named"
    hit = named & (rng.random(len(df)) < rate)
    which = _pick(rng, INCOMPLETE_FIELDS, len(df))
    for name in ("birth_date", "official_language", "consent_research"):
        df.loc[hit & (which == name), name] = None
    df.loc[hit & (which == "contact"), ["email", "phone"]] = None
    return hit & (which == "identifier")


def build(
    db: Database,
    clients: int = 500,
    seed: int = 1,
    code: str = DEMO_CODE,
    name: str = "Maple Newcomer Services",
    incomplete_rate: float = 0.15,
    months: int = 0,
    forms_per_client_month: float = demo_sessions.FORMS_PER_CLIENT_MONTH,
    into_empty: bool = False,
) -> dict | None:
    """Create one demo agency with `clients` clients and `months` months of sessions; returns what was made.

    With `into_empty`, only into a database without agencies (None when it has one).
    """
    rng = np.random.default_rng(seed)
    today = clock.today()

    def apply(cur: Handle):
        if into_empty and cur.value("SELECT count(*) FROM agencies"):
            return None
        if into_empty:  # the first screen's choice: a set-up of a real agency sent meanwhile clashes here
            cur.run("INSERT INTO meta VALUES (?, ?)", [FIRST_AGENCY, code])
        if cur.one("SELECT 1 FROM agencies WHERE code = ?", [code]):
            raise ValidationError(
                {"agency": f"An agency with code {code} already exists; choose another with --agency."}
            )
        agency_id = cur.next_id()
        cur.run("INSERT INTO agencies (id, code, name) VALUES (?, ?, ?)", [agency_id, code, name])
        ref = _reference(cur, agency_id, code, extra_staff=clients // CLIENTS_PER_EXTRA_STAFF)
        df = _clients(rng, clients, ref, 1, today)
        df["family_code"] = None
        _families(rng, df)
        df["email"] = (
            df["first_name"].str.lower() + "." + df["last_name"].str.lower() + df["email"] + "@mail.example.com"
        ).where(df["email"].notna())
        no_identifier = _incomplete(rng, df, incomplete_rate)
        first_id = cur.next_id()
        cur.tuples("SELECT setval('ids', ?)", [first_id + 4 * clients + 10])  # read to the end: load follows
        df.insert(0, "id", np.arange(first_id, first_id + clients))
        df.insert(1, "agency_id", agency_id)
        df["created_by"] = df["primary_worker"].fillna(ref["users"][0])
        df["version"] = 1
        cur.load("clients", df)
        _child_rows(cur, rng, df, no_identifier, agency_id, first_id + clients, ref)
        cur.run(
            "INSERT INTO counters VALUES (?, 'client_no', ?), (?, 'family_code', ?)",
            [agency_id, clients, agency_id, df.attrs["families"]],
        )
        made = {
            "agency_id": agency_id,
            "code": code,
            "clients": clients,
            "families": df.attrs["families"],
            **{k: len(v) for k, v in ref.items()},
        }
        cur.run(
            "INSERT INTO icare_uploaders VALUES (?, 'agency', ?, ?, ?)",
            [agency_id, agency_id, ref["users"][2], ref["users"][0]],
        )
        if months:
            made.update(
                demo_sessions.build(cur, agency_id, months, seed, forms_per_client_month=forms_per_client_month)
            )
        return made

    made = db.write(apply)
    db.write(db.engine.analyze)  # planner statistics for what was just loaded (PostgreSQL)
    return made


def _child_rows(
    cur: Handle, rng, df: pd.DataFrame, no_identifier: np.ndarray, agency_id: int, next_id: int, ref: dict
) -> None:
    named = (df["client_type"] == "Named").to_numpy() & ~no_identifier
    parents = df["id"].to_numpy()[named]
    n = len(parents)
    ident = pd.DataFrame(
        {
            "id": np.arange(next_id, next_id + n),
            "parent_id": parents,
            "agency_id": agency_id,
            "position": 0,
            "id_type": _pick(rng, ["FOSS/GCMS Client ID", "IMM5292, IMM5509, IMM1000 Number"], n, [0.8, 0.2]),
            "id_value": (np.arange(n) * 7919 % 90_000_000 + 10_000_000).astype(str),
        }
    )
    cur.load("client_identifiers", ident)
    all_named = df["id"].to_numpy()[(df["client_type"] == "Named").to_numpy()]
    m = len(all_named)
    langs = pd.DataFrame(
        {
            "id": np.arange(next_id + n, next_id + n + m),
            "parent_id": all_named,
            "agency_id": agency_id,
            "position": 0,
            "language": _pick(
                rng,
                ["Arabic", "Dari", "Mandarin", "Ukrainian", "Spanish", "Tigrigna", "Punjabi", "Vietnamese", "Tagalog"],
                m,
            ),
            "listening": _pick(rng, ["3", "4", "5", "6", "7"], m),
            "speaking": _pick(rng, ["2", "3", "4", "5", "6"], m),
        }
    )
    cur.load("client_languages", langs)
    learned = pd.DataFrame(
        {
            "parent_id": all_named,
            "agency_id": agency_id,
            "field": "learned_about",
            "value": _pick(
                rng,
                ["Family / friends", "Internal to my organization", "School", "Other settlement service provider"],
                m,
            ),
        }
    )
    cur.load("clients_multi", learned)


def ensure_demo(db: Database) -> dict | None:
    """Give an empty database the demo agency so a first start shows something at once.

    Two app processes starting at once on an empty PostgreSQL database both build it: the second's
    insert clashes with the first's on the unique agency code, is retried, and then finds an agency.
    """
    with db.read() as cur:
        if cur.value("SELECT count(*) FROM agencies"):
            return None
    return build(db, months=FIRST_START_MONTHS, into_empty=True)
