"""Command line: `python -m ocms_data init|demo|agency|users|icare|copy ...` (the same engine as the app)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from ocms_data import agencies, config, demo
from ocms_data.accounts import ROLES, agency_actor, clean_user, hash_password, insert_user
from ocms_data.db import Database
from ocms_data.errors import OcmsError, ValidationError
from ocms_data.icare import batches, engine, workbook
from ocms_data.registry import CatalogError
from ocms_data.store import copy, shown


def _db(args) -> Database:
    return Database(args.db or config.db_target())


def cmd_init(args) -> dict:
    db = _db(args)
    return {"db": shown(db.path), "added": db.migrated, "warnings": db.warnings}


def cmd_demo(args) -> dict:
    return demo.build(
        _db(args),
        clients=args.clients,
        seed=args.seed,
        code=args.agency,
        months=args.months,
        forms_per_client_month=args.forms_per_client_month,
    )


def _password(args) -> str:
    return sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")


def cmd_agency_create(args) -> dict:
    name = args.admin_name or args.admin
    try:
        return agencies.create(_db(args), args.code, args.name, args.admin, name, _password(args), args.email)
    except ValidationError as exc:  # every problem at once, each message naming its field
        raise OcmsError(" ".join(exc.errors.values())) from None


def cmd_users_add(args) -> dict:
    db = _db(args)
    password = _password(args)
    clean = clean_user(args.username, args.name, args.email or "", password, args.roles.split(","))
    with db.read() as cur:
        found = cur.tuples("SELECT id FROM agencies WHERE code = ?", [args.agency])
    if not found:
        raise OcmsError(f"No agency with code {args.agency}.")
    pw_hash = hash_password(password)
    uid = db.write(
        lambda cur: insert_user(
            cur, found[0][0], clean["username"], clean["full_name"], pw_hash, clean["roles"], clean["email"], None
        )
    )
    return {"user_id": uid, "username": clean["username"]}


def cmd_icare(args) -> dict:
    db = _db(args)
    made_by = args.user or batches.CLI
    actor = agency_actor(db, args.agency, made_by)
    run = engine.collect(db, actor, args.month)
    files = workbook.export(run, actor.agency_code, batches.worker_names(db, actor))
    final = batches.finalise(db, actor, run, files, via=batches.CLI, made_by_name=made_by) if args.final else None
    out = Path(args.out)  # written only once a final is recorded, so a refused final leaves no files behind
    out.mkdir(parents=True, exist_ok=True)
    for name, data in [
        *files.files.values(),
        (files.zip_name, files.zip_bytes),
        (files.errors_name, files.errors_bytes),
    ]:
        (out / name).write_bytes(data)
    return {
        "agency": actor.agency_code,
        "month": run.month,
        "due": run.due,
        "valid": run.valid,
        "final": {"batches": final.batches, "rows": final.rows} if final else None,
        "templates": {
            key: {"good": r.good, "bad": r.bad, "file": files.files.get(key, (None,))[0]}
            for key, r in run.results.items()
        },
        "zip": files.zip_name,
        "errors": files.errors_name,
    }


def cmd_copy(args) -> dict:
    return copy.copy(args.source, args.target)


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
    agency = sub.add_parser("agency", help="manage agencies").add_subparsers(dest="action", required=True)
    ag = agency.add_parser("create", help="add an agency and its first agency admin (password from standard input)")
    ag.add_argument("--code", required=True, help="2-12 letters or digits, such as MNS")
    ag.add_argument("--name", required=True)
    ag.add_argument("--admin", required=True, help="the first agency admin's user name")
    ag.add_argument("--admin-name", help="the admin's full name (default: the user name)")
    ag.add_argument("--email", help="the admin's e-mail")
    ag.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    ag.set_defaults(run=cmd_agency_create)
    users = sub.add_parser("users", help="manage staff accounts").add_subparsers(dest="action", required=True)
    add = users.add_parser("add", help="add a staff member to an agency")
    add.add_argument("--agency", required=True)
    add.add_argument("--username", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--email")
    add.add_argument("--roles", default="worker", help=f"comma-separated: {', '.join(ROLES)}")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(run=cmd_users_add)
    ic = sub.add_parser(
        "icare", help="write a month's iCARE workbooks and error workbook (optionally record the final)"
    )
    ic.add_argument("--month", required=True, help="YYYY-MM")
    ic.add_argument("--out", required=True, help="directory for the files")
    ic.add_argument("--final", action="store_true", help="record the files as the final upload")
    ic.add_argument("--agency", help="agency code (needed when the database has several)")
    ic.add_argument("--user", help="the name the final is recorded under (default: command line)")
    ic.set_defaults(run=cmd_icare)
    for s in (init, d, ag, add, ic):
        s.add_argument("--db", help=f"database file or postgresql:// URL (default: $OCMS_DB or {config.DEFAULT_DB})")
    cp = sub.add_parser(
        "copy", help="copy a whole database into a new, empty one (DuckDB to PostgreSQL or back), verified"
    )
    cp.add_argument("--from", dest="source", required=True, help="the database to copy: a file or postgresql:// URL")
    cp.add_argument("--to", dest="target", required=True, help="the empty database to copy it into")
    cp.set_defaults(run=cmd_copy)
    return p


def main(argv: list[str] | None = None) -> int:
    config.private_files()
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
