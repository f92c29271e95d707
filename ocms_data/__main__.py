"""Command line: `python -m ocms_data init|demo|users ...` (the same engine as the app)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from ocms_data import config, demo
from ocms_data.accounts import ROLES, add_user, user_errors
from ocms_data.db import Database
from ocms_data.errors import OcmsError, ValidationError
from ocms_data.registry import CatalogError


def _db(args) -> Database:
    return Database(Path(args.db) if args.db else config.db_path())


def cmd_init(args) -> dict:
    db = _db(args)
    return {"db": db.path, "added_columns": db.migrated}


def cmd_demo(args) -> dict:
    return demo.build(
        _db(args),
        clients=args.clients,
        seed=args.seed,
        code=args.agency,
        months=args.months,
        forms_per_client_month=args.forms_per_client_month,
    )


def cmd_users_add(args) -> dict:
    db = _db(args)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    roles = args.roles.split(",")
    errors = user_errors(args.username, args.name, password, roles)
    if errors:
        raise ValidationError(errors)
    with db.read() as cur:
        found = cur.execute("SELECT id FROM agencies WHERE code = ?", [args.agency]).fetchall()
    if not found:
        raise OcmsError(f"No agency with code {args.agency}.")
    uid = db.write(lambda cur: add_user(cur, found[0][0], args.username, args.name, password, roles, args.email))
    return {"user_id": uid, "username": args.username}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ocms_data", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="create or migrate the database")
    init.set_defaults(run=cmd_init)
    d = sub.add_parser("demo", help="add a realistic demo agency")
    d.add_argument("--clients", type=int, default=500)
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--months", type=int, default=0, help="also add this many months of sessions and forms")
    d.add_argument("--forms-per-client-month", type=float, default=demo.demo_sessions.FORMS_PER_CLIENT_MONTH)
    d.add_argument("--agency", default=demo.DEMO_CODE, help="agency code (default DEMO)")
    d.set_defaults(run=cmd_demo)
    users = sub.add_parser("users", help="manage staff accounts").add_subparsers(dest="action", required=True)
    add = users.add_parser("add", help="add a staff member to an agency")
    add.add_argument("--agency", required=True)
    add.add_argument("--username", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--email")
    add.add_argument("--roles", default="worker", help=f"comma-separated: {', '.join(ROLES)}")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(run=cmd_users_add)
    for s in (init, d, add):
        s.add_argument("--db", help=f"database file (default: $OCMS_DB or {config.DEFAULT_DB})")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = args.run(args)
    except (OcmsError, CatalogError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
