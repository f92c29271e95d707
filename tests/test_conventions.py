import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ocms_data"
PAGES = ROOT / "pages"
FENCED = PACKAGE / "ui"
UI_LIBRARIES = {"streamlit", "st_aggrid"}
MAX_PAGE_LINES = 80


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _python(*roots: Path) -> list[Path]:
    out = []
    for root in roots:
        out += [root] if root.is_file() else sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    return out


DOMAIN = [p for p in _python(PACKAGE) if FENCED not in p.parents]
SOURCES = _python(PACKAGE, PAGES, ROOT / "app.py")
PAGE_FILES = sorted(p for p in PAGES.iterdir() if p.is_file())


def _imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
            "import_module",
            "__import__",
        ):
            names |= {a.value.split(".")[0] for a in node.args[:1] if isinstance(a, ast.Constant)}
    return names


def test_there_is_something_to_check():
    assert len(DOMAIN) >= 10
    assert PAGE_FILES
    assert (ROOT / "app.py") in SOURCES


@pytest.mark.parametrize("path", DOMAIN, ids=_rel)
def test_domain_package_does_not_import_streamlit(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    assert not (_imported(tree) & UI_LIBRARIES), f"{_rel(path)} imports a UI library outside ocms_data/ui/"


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import streamlit as st", True),
        ("from streamlit import session_state", True),
        ("import st_aggrid.shared", True),
        ("def f():\n    import streamlit\n", True),
        ("import importlib\nimportlib.import_module('streamlit')", True),
        ("import streamlit_like", False),
        ("from . import streamlit", False),
        ("x = 'import streamlit'", False),
    ],
)
def test_the_import_check_itself(source, found):
    assert bool(_imported(ast.parse(source)) & UI_LIBRARIES) is found


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_every_module_has_a_docstring(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    doc = ast.get_docstring(tree)
    assert doc and doc.strip(), f"{_rel(path)} has no module docstring"


@pytest.mark.parametrize("path", PAGE_FILES, ids=_rel)
def test_pages_are_thin(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_PAGE_LINES
    for word in ("SELECT ", "duckdb", "openpyxl"):
        assert word not in text, (
            f"{_rel(path)} contains {word!r}: pages call ocms_data, they do not query or write files"
        )


ABSOLUTE = re.compile(r"""["'](/work/|/tmp/|/home/|/Users/|[A-Za-z]:\\)""")


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_no_absolute_paths(path):
    text = path.read_text(encoding="utf-8")
    assert "/work/" not in text and "/tmp/" not in text, _rel(path)
    assert not ABSOLUTE.search(text), _rel(path)


def _recorded_actions() -> set[str]:
    """Every action name passed to audit.record anywhere in the package (string constants of its 3rd argument)."""
    found = set()
    for path in _python(PACKAGE):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            func = getattr(node, "func", None)
            called = getattr(func, "attr", None) == "record" and getattr(getattr(func, "value", None), "id", None)
            if isinstance(node, ast.Call) and called == "audit" and len(node.args) > 2:
                found |= {c.value for c in ast.walk(node.args[2]) if isinstance(c, ast.Constant)}
    return found


def test_every_recorded_action_reads_in_plain_words():
    from ocms_data import audit

    actions = _recorded_actions()
    assert {"create", "update", "export", "icare_final"} <= actions  # the scan finds them
    assert actions <= set(audit.ACTIONS), sorted(actions - set(audit.ACTIONS))


CURSOR_CALLS = {"execute", "executemany", "fetchall", "fetchone", "fetchdf", "df", "register", "unregister", "sql"}
HANDLE_NAMES = {"cur", "con", "cursor", "other"}  # what a unit of work's handle is called in services
STORE = {PACKAGE / "db.py", *(PACKAGE / "store").rglob("*.py")}


def _cursor_calls(tree: ast.AST) -> list[int]:
    """Lines calling a cursor method on a handle (`cur.execute(...)`) or on what one returned (`.fetchall()`)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CURSOR_CALLS:
            on = node.func.value
            if (isinstance(on, ast.Name) and on.id in HANDLE_NAMES) or isinstance(on, ast.Call):
                found.append(node.lineno)
    return found


@pytest.mark.parametrize("path", [p for p in SOURCES if p not in STORE], ids=_rel)
def test_services_speak_the_store_vocabulary_not_an_engine(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    calls, engine = _cursor_calls(tree), "duckdb" in _imported(tree)
    assert not calls and not engine, f"{_rel(path)} talks to the engine (lines {calls}): use the store Handle"


def test_the_cursor_call_check_finds_one():
    assert _cursor_calls(ast.parse("cur.execute('SELECT 1').fetchall()")) == [1, 1]
    assert _cursor_calls(ast.parse("clients.register(db, actor)")) == []


AGENCY_BY_HAND = re.compile(r"agency_id\s*(=|<>|!=|\bIN\b)|\$agency\b", re.I)
SCOPE = PACKAGE / "scope.py"


def _agency_filters(tree: ast.AST) -> list[int]:
    """Lines of text (f-string parts too) testing `agency_id` by hand or passing a `$agency` parameter."""
    return sorted(
        {
            n.lineno
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and AGENCY_BY_HAND.search(n.value)
        }
    )


@pytest.mark.parametrize("path", [p for p in SOURCES if p not in STORE and p != SCOPE], ids=_rel)
def test_visibility_is_written_once_in_scope(path):
    """Client data is narrowed by `scope()`, never by a service's own agency condition.

    The store's strict mode (tests/conftest.py) refuses a read without the scope; this keeps the scope's
    shape for scope() alone, so a hand-written `agency_id =` cannot pass for it. The store's own counter
    statement (keyed by the agency it is given) is the store's, not a service's.
    """
    found = _agency_filters(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    assert not found, f"{_rel(path)} filters by agency by hand (lines {found}): use ocms_data.scope.scope"


def test_the_agency_filter_check_finds_one():
    assert _agency_filters(ast.parse('sql = "WHERE agency_id = ?"')) == [1]
    assert _agency_filters(ast.parse('sql = f"WHERE t.agency_id = {n} AND x"')) == [1]
    assert _agency_filters(ast.parse('sql = "JOIN c ON c.agency_id = f.agency_id"')) == [1]
    assert _agency_filters(ast.parse('sql = "WHERE t.agency_id IN (1, 2)"')) == [1]
    assert _agency_filters(ast.parse('sql = "WHERE t.x = $agency"')) == [1]
    assert _agency_filters(ast.parse('sql = "INSERT INTO t (id, agency_id) VALUES (?, ?)"')) == []
    assert _agency_filters(ast.parse("who = Actor(agency_id=1)")) == []


def test_nothing_in_the_package_turns_strict_mode_on():
    """Strict mode is the tests' (tests/conftest.py): production leaves the store's check off."""
    calls = [
        (_rel(path), node.lineno)
        for path in SOURCES
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "strict"
    ]
    assert not calls


TESTS = ROOT / "tests"
FILE_COPIES = re.compile(r"\bshutil\.copy(?:file|2)?\(")
OWN_FILE_TESTS = {"tests/conftest.py", "tests/test_copy.py"}  # copy_database itself; DuckDB files by design


@pytest.mark.parametrize("path", [p for p in _python(TESTS) if _rel(p) not in OWN_FILE_TESTS], ids=_rel)
def test_tests_copy_a_database_with_copy_database(path):
    """A test copying a database file would not run on PostgreSQL (`--engine postgresql`): copy_database does both."""
    assert not FILE_COPIES.search(path.read_text(encoding="utf-8")), _rel(path)
