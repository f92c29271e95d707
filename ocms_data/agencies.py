"""A real agency, not the demo: its code, its name and its first agency admin.

Made from the command line (`python -m ocms_data agency create`) or on the first screen of an empty database.
"""

from __future__ import annotations

import re

from ocms_data import accounts, audit
from ocms_data.accounts import AGENCY_ADMIN, WORKER
from ocms_data.db import Database
from ocms_data.demo import DEMO_CODE, FIRST_AGENCY
from ocms_data.errors import ValidationError
from ocms_data.validation import plain_text

CODE_RE = re.compile(r"^[A-Z0-9]{2,12}$")
NAME_LIMIT = 120
LABELS = {"code": "Agency code", "name": "Agency name"}


def _clean(code: str, name: str) -> dict:
    clean, errors = {"code": code.strip().upper()}, {}
    if not CODE_RE.match(clean["code"]):
        errors["code"] = "Agency code must have 2-12 letters or digits (it names the iCARE files), such as MNS."
    elif clean["code"] == DEMO_CODE:
        errors["code"] = f"{DEMO_CODE} is the demo agency's code: choose another."
    try:
        clean["name"] = plain_text(LABELS["name"], name, NAME_LIMIT, required=True)
    except ValueError as exc:
        errors["name"] = str(exc)
    if errors:
        raise ValidationError(errors)
    return clean


def codes(db: Database) -> list[str]:
    """Every agency's code: the sign-in page offers set-up to a database with none, and names the demo's accounts."""
    with db.read() as cur:
        return cur.column("SELECT code FROM agencies")


def create(
    db: Database,
    code: str,
    name: str,
    admin: str,
    admin_name: str,
    password: str,
    email: str | None = None,
    first: bool = False,
) -> dict:
    """Add an agency and its first agency admin (also a worker), every problem at once; returns what was made.

    `first`: only into a database without agencies (the first screen), refused once one exists, even
    when two set-ups are sent at the same moment.
    """
    problems: dict = {}
    try:
        agency = _clean(code, name)
    except ValidationError as exc:
        problems |= exc.errors
    try:
        user = accounts.clean_user(admin, admin_name, email or "", password, [AGENCY_ADMIN, WORKER])
    except ValidationError as exc:
        problems |= exc.errors
    if problems:
        raise ValidationError(problems)
    pw_hash = accounts.hash_password(password)  # before the transaction: hashing takes a while

    def apply(cur) -> dict:
        if first:
            if cur.value("SELECT count(*) FROM agencies"):
                raise ValidationError({"agency": "This database has an agency already: sign in instead."})
            cur.run("INSERT INTO meta VALUES (?, ?)", [FIRST_AGENCY, agency["code"]])  # a second at once clashes
        if cur.tuples("SELECT 1 FROM agencies WHERE code = ?", [agency["code"]]):
            raise ValidationError({"code": f"An agency with code {agency['code']} exists already."})
        agency_id = cur.next_id()
        cur.run("INSERT INTO agencies (id, code, name) VALUES (?, ?, ?)", [agency_id, agency["code"], agency["name"]])
        uid = accounts.insert_user(
            cur, agency_id, user["username"], user["full_name"], pw_hash, user["roles"], user["email"], None
        )
        made = {"code": agency["code"], "name": agency["name"], "admin": user["username"]}
        audit.record(cur, accounts.UserRef(agency_id, uid), "create", "agencies", agency_id, made)
        return {
            "agency_id": agency_id,
            "code": agency["code"],
            "name": agency["name"],
            "admin": user["username"],
            "admin_id": uid,
        }

    return db.write(apply)
