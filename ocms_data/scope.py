"""The one visibility rule: what an actor may see or change of the client data, as one SQL condition.

Every read, UPDATE and DELETE of a table of client data is narrowed by `scope(actor, table, alias)`;
INSERTs carry the actor's `agency_id` as a value instead. The tables of client data are every table
carrying `agency_id`, derived from the package catalog (its records, their repeating sections and
list-valued side tables, the reference tables) and from the system tables `db.SYSTEM_DDL` makes.

The first rule is agency isolation, `(c.agency_id = 17)`. The second keeps confidential programs
apart: an actor's `sealed_programs` are the confidential programs of the agency they do not work in
(none for agency admins, nor for uploaders while they export to iCARE: `accounts.Actor.exporting`).
A session of such a program is *sealed* for the actor unless it is their own (they are on its staff
or created it): they see that it exists (its date, type, site, program, clients), not what it holds.
What it holds is its service forms, their problems and the session's `HELD` columns (its notes):
`scope` leaves a sealed session's forms and form problems out, and `shown` blanks its held columns.
With no sealed program (most actors, every agency without a confidential program) the conditions
are exactly agency isolation: nothing is added, nothing costs. The next rules join here too: clients
private to their facilitator in practice mode, sessions shared with a Service Center. That is why
it is told the table (the rule differs from table to table) and the whole actor (roles, user and
programs, not just the agency): each query already asks here, so a new rule is written once, in
`scope`, and reaches every read.

The agency id is rendered as a literal, not a parameter: it comes from the signed-in actor (never
from what a user typed), and a literal composes into CTEs and subqueries with no parameter-order
bookkeeping.

A few jobs read across agencies on purpose and say so with `everyone()`: sign-in finding a user by
name or id, or a sign-in by its key, before there is an actor, and the check that a user name is free in the whole database.
Work done for one agency with nobody signed in (the demo builder, start-up re-deriving each agency's
problems, the command line adding a user) acts as `Agency(agency_id)`, which sees that whole agency.
The migrations' one read of client data (the duplicate check before a unique index) says `everyone()`.

The catalog's rules are SQL written with no actor in sight (`t.end_date < (SELECT s.service_date FROM
sessions s WHERE s.id = t.session_id)`): `narrowed(actor, sql)` narrows every table of client data
such SQL reads to what the actor sees.

`unscoped(sql)` names a statement's references to client data left without their scope. `strict()`
makes the store refuse such a statement when a module of `ocms_data` runs it: the tests turn it on
for their whole run (tests/conftest.py), production leaves it off. The tests' own inspection SQL,
run from test modules, is not checked, nor are the store's own statements (ids, counters, loads).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from typing import Protocol, TypeVar

from ocms_data.db import SYSTEM_DDL
from ocms_data.registry import default_catalog
from ocms_data.store.handle import Vocabulary

EVERYONE = "/* every agency */"
TOKEN = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*|\d+|\S""",
    re.I | re.S,
)
WORD = re.compile(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*", re.I)
ALIAS = re.compile(r"[a-z_][a-z0-9_]*", re.I)
SCOPED = re.compile(r"([a-z_][a-z0-9_]*)\.agency_id", re.I)  # the column a scope condition tests
ENDING = (  # words that end a table reference: after the table, none of them is its alias
    "where join left right inner outer full cross natural on using group order limit offset union intersect "
    "except set having window qualify returning values select from as lateral asof positional semi anti"
)
NOT_ALIASES = frozenset(ENDING.split())
SERVICES, STORE = "ocms_data.", "ocms_data.store."
PASSING = frozenset(
    {"checked", "rows", "tuples", "frame", "arrow", "run", "run_many", "one", "column", "value", "_execute"}
)


HELD = {"sessions": ("notes",)}  # a session's columns that are what it holds, with its forms (`shown`)


V = TypeVar("V", bound="Visible")


class Visible(Protocol):
    """Who a query is for: a signed-in `accounts.Actor`, or an `Agency` as a whole."""

    @property
    def agency_id(self) -> int: ...

    @property
    def user_id(self) -> int | None: ...

    @property
    def sealed_programs(self) -> frozenset[int]: ...


@dataclass(frozen=True)
class Agency:
    """One agency as a whole, for work done for it with nobody signed in (demo data, start-up, command line).

    It sees everything of the agency, confidential programs too: problems are derived as one.
    """

    agency_id: int
    user_id: None = None
    sealed_programs: frozenset[int] = frozenset()


def unsealed(actor: V) -> V:
    """The actor with no program sealed: for an iCARE export, or once one session's seal was checked by its id."""
    return replace(actor, sealed_programs=frozenset()) if actor.sealed_programs else actor


def whole(actor: Visible) -> Agency:
    """The actor's agency as a whole: for what is derived for everyone (problems, session status), never shown."""
    return Agency(actor.agency_id)


class Unscoped(Exception):
    """A statement of a service reads or changes client data without `scope` (see `strict`)."""


@cache
def client_tables() -> frozenset[str]:
    """Every table of client data: the catalog's tables and side tables, the reference tables, system tables."""
    catalog = default_catalog()
    system = set()
    for ddl in SYSTEM_DDL:
        made = re.match(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*)\)\s*$", ddl, re.S)
        if made and re.search(r"\bagency_id\b", made.group(2)):
            system.add(made.group(1))
    side = {f"{form.table}_{f.spec.side}" for form in catalog.forms.values() for f in form.fields if f.spec.side}
    return frozenset(system | side | set(catalog.table_columns()) | set(catalog.references))


def scope(actor: Visible, table: str, alias: str | None = None, session: str | None = None) -> str:
    """SQL: the rows of `table` (read as `alias`, else by its name) that `actor` may see or change.

    `session`: the alias of the sessions row the statement already joins them to (their own session),
    whose program the rule then reads instead of looking the session up again.
    """
    if table not in client_tables():
        raise ValueError(f"{table!r} is not a table of client data; scope knows {sorted(client_tables())}.")
    name = alias or table
    if not ALIAS.fullmatch(name):
        raise ValueError(f"{name!r} is not an alias.")
    agency = f"({name}.agency_id = {int(actor.agency_id)})"
    if not actor.sealed_programs or table not in ("service_forms", "problems"):
        return agency
    closed = _sealed_row(actor, session, f"{session}.id") if session else sealed(actor, f"{name}.session_id")
    if table == "service_forms":
        return f"({agency} AND NOT ({closed}))"
    return f"({agency} AND ({name}.form = 'session' OR NOT ({closed})))"


def sealed(actor: Visible, session_id: str) -> str:
    """SQL: the session `session_id` (SQL) is one whose forms and notes `actor` may not see (false if none is)."""
    if not actor.sealed_programs:
        return "false"
    parent = session_id if session_id.isdigit() else "h.id"  # a known id is looked up, not joined
    return (
        f"EXISTS (SELECT 1 FROM sessions h WHERE h.id = {session_id} AND (h.agency_id = {int(actor.agency_id)}) "
        f"AND {_sealed_row(actor, 'h', parent)})"
    )


def _sealed_row(actor: Visible, alias: str, session_id: str) -> str:
    """SQL: the sessions row `alias` (id `session_id`) is of a sealed program and not the actor's own."""
    programs = ", ".join(str(int(p)) for p in sorted(actor.sealed_programs))
    if actor.user_id is None:
        return f"{alias}.program IN ({programs})"
    user = int(actor.user_id)
    return (
        f"{alias}.program IN ({programs}) AND {alias}.created_by IS DISTINCT FROM {user} AND NOT EXISTS (SELECT 1 "
        f"FROM sessions_refs o WHERE o.parent_id = {session_id} AND (o.agency_id = {int(actor.agency_id)}) "
        f"AND o.field = 'staff' AND o.ref_id = {user})"
    )


def shown(actor: Visible, table: str, alias: str, column: str) -> str:
    """SQL: the value of `alias.column` (a row of `table`) as `actor` may see it: a sealed session's `HELD` columns are blank."""
    value = f"{alias}.{column}"
    if column not in HELD.get(table, ()) or not actor.sealed_programs:
        return value
    return f"CASE WHEN {_sealed_row(actor, alias, f'{alias}.id')} THEN NULL ELSE {value} END"


def everyone() -> str:
    """SQL (always true) saying the statement reads across agencies on purpose (sign-in, free user names)."""
    return f"(true {EVERYONE})"


@dataclass(frozen=True)
class Reference:
    """A table of client data a statement names after FROM, JOIN or UPDATE."""

    table: str
    name: str  # what the statement calls it: its alias, else the table's name
    aliased: bool
    at: int  # its token
    until: int  # the token closing the parenthesis its query is in (a scope condition must come in between)
    span: tuple[int, int]  # where the table's name is in the text


@dataclass(frozen=True)
class _Parsed:
    references: tuple[Reference, ...]
    conditions: tuple[tuple[str, int], ...]  # (name scoped, token) of every scope condition
    everyone: bool


def _closing(tokens: list[str]) -> tuple[list[int], dict[int, int]]:
    """For each token, the token closing the parenthesis it is in (or the end); each `(` -> its `)`."""
    inside, pairs, open_at = [], {}, []
    for i, tok in enumerate(tokens):
        inside.append(open_at[-1] if open_at else None)
        if tok == "(":
            open_at.append(i)
        elif tok == ")" and open_at:
            pairs[open_at.pop()] = i
    return [len(tokens) if o is None else pairs.get(o, len(tokens)) for o in inside], pairs


def _ctes(tokens: list[str]) -> set[str]:
    """The names a statement's WITH gives its common table expressions (`name AS [NOT] [MATERIALIZED] (`)."""
    names = set()
    for i, tok in enumerate(tokens):
        if tok.lower() != "as" or i == 0 or not WORD.fullmatch(tokens[i - 1]):
            continue
        after = [t.lower() for t in tokens[i + 1 : i + 4]]
        if after[:1] == ["("] or after[:2] == ["materialized", "("] or after[:3] == ["not", "materialized", "("]:
            names.add(tokens[i - 1].lower())
    return names


@lru_cache(maxsize=512)
def _parse(sql: str) -> _Parsed:
    """The references to client data in `sql`, its scope conditions, and whether `everyone()` marks it."""
    found = list(TOKEN.finditer(sql))
    marked = any(m.group() == EVERYONE for m in found)
    found = [m for m in found if not m.group().startswith(("--", "/*"))]
    tokens = [m.group() for m in found]
    until, pairs = _closing(tokens)
    tables, ctes, n = client_tables(), _ctes(tokens), len(tokens)
    references = []
    for i, tok in enumerate(tokens):
        word = tok.lower()
        if word not in ("from", "join", "update") or (word == "from" and i and tokens[i - 1].lower() == "distinct"):
            continue
        j = i + 1
        while j < n:
            if tokens[j] == "(":  # a subquery: its own tables are met on the way
                k = pairs.get(j, n - 1) + 1
            elif WORD.fullmatch(tokens[j]) and j + 1 < n and tokens[j + 1] == "(":  # a table function
                k = pairs.get(j + 1, n - 1) + 1
            elif WORD.fullmatch(tokens[j]):
                k = j + 1
            else:
                break
            k += k < n and tokens[k].lower() == "as"
            alias = tokens[k].lower() if k < n and ALIAS.fullmatch(tokens[k]) else None
            alias = None if alias in NOT_ALIASES else alias
            schema, _, table = tokens[j].lower().rpartition(".")
            if k == j + 1 and table in tables and (schema or table not in ctes):
                references.append(Reference(table, alias or table, alias is not None, j, until[j], found[j].span()))
            k += alias is not None
            if word != "from" or k >= n or tokens[k] != ",":
                break
            j = k + 1
    conditions = []
    for i in range(n - 4):
        named = SCOPED.fullmatch(tokens[i + 1])
        if tokens[i] == "(" and named and tokens[i + 2] == "=" and tokens[i + 3].isdigit() and tokens[i + 4] == ")":
            conditions.append((named.group(1).lower(), i))
    return _Parsed(tuple(references), tuple(conditions), marked)


def unscoped(sql: str) -> list[str]:
    """The references to client data in `sql` without a scope condition of their own (`table alias`).

    Each reference needs a condition `scope` made for its name, after it and inside the parenthesis
    its query is in (its own WHERE or ON, or deeper); one condition serves one reference. A statement
    marked `everyone()` has none missing.
    """
    parsed = _parse(sql)
    if parsed.everyone:
        return []
    free = list(parsed.conditions)
    missing = []
    for ref in sorted(parsed.references, key=lambda r: r.until - r.at):  # innermost queries first
        hit = next((c for c in free if c[0] == ref.name and ref.at < c[1] < ref.until), None)
        if hit is None:
            missing.append(f"{ref.table} {ref.name}" if ref.aliased else ref.table)
        else:
            free.remove(hit)
    return missing


def narrowed(actor: Visible, sql: str) -> str:
    """`sql` (written with no actor in sight, e.g. a catalog rule) reading only client data `actor` sees.

    Each table of client data it names becomes a derived table of the visible rows under the same name.
    """
    out = sql
    for ref in sorted(_parse(sql).references, key=lambda r: r.span, reverse=True):
        start, end = ref.span
        name = sql[start:end]
        if ref.aliased:
            visible = f"(SELECT * FROM {name} {ref.name} WHERE {scope(actor, ref.table, ref.name)})"
        else:
            visible = f"(SELECT * FROM {name} WHERE {scope(actor, ref.table)}) {ref.name}"
        out = out[:start] + visible + out[end:]
    return out


def _run_by_a_service() -> bool:
    """Whether the statement being run was written by a module of `ocms_data` outside the store."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(STORE):
        if frame.f_code.co_name not in PASSING:
            return False  # the store's own statement (an id, a counter, a load)
        frame = frame.f_back
    return frame is not None and frame.f_globals.get("__name__", "").startswith(SERVICES)


def check(sql: str) -> None:
    """Refuse a statement a service runs that reads or changes client data without `scope` (see `strict`)."""
    if not _run_by_a_service():
        return
    missing = unscoped(sql)
    if missing:
        raise Unscoped(
            f"Client data read without scope(actor, table, alias): {', '.join(missing)}. Narrow each with "
            f"scope, or mark a deliberate read across agencies with everyone(). The statement: {sql[:600]}"
        )


def strict(on: bool = True) -> None:
    """Make every handle refuse what `check` refuses (on for the tests' whole run), or stop (off)."""
    Vocabulary.statement_check = check if on else None
