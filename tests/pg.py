"""A throwaway PostgreSQL cluster for the tests: `initdb` in a temporary directory, a free loopback port.

Debian's `postgresql` package (tests/run.sh installs it) puts its programs in /usr/lib/postgresql/<n>/bin.
PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user. It trusts
loopback connections of its one user (no password anywhere) and is stopped and deleted at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

USER = "ocms"


def binaries() -> Path | None:
    """The newest installed PostgreSQL's programs, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def cluster(settings: dict[str, str] | None = None) -> Iterator[str]:
    """A running cluster with a database `ocms`; yields its URL. `settings`: server settings (`-c name=value`)."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="ocms-pg-"))
    as_user: list[str] = []
    data, port = root / "data", _free_port()

    def pg(program: str, *args: str, check: bool = True) -> None:
        command = [*as_user, str(bin_dir / program), *args]
        done = subprocess.run(command, check=False, capture_output=True, text=True, cwd=root)
        if check and done.returncode:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")

    try:
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
            as_user = ["runuser", "-u", "postgres", "--"]
        pg("initdb", "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off"
        options += "".join(f" -c {name}={value}" for name, value in (settings or {}).items())
        pg("pg_ctl", "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "start")
        pg("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", USER, "ocms")
        yield f"postgresql://{USER}@127.0.0.1:{port}/ocms"
    finally:
        if (data / "postmaster.pid").exists():  # started: stop it, whatever failed since
            pg("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)


def new_database(url: str, name: str, template: str = "template0") -> str:
    """A new database `name` on the cluster at `url` (a copy of `template`); its URL."""
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(  # a template may have no other connection: close the pools' idle ones
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [template],
        )
        con.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
    return url.rsplit("/", 1)[0] + "/" + name


class Databases:
    """The suite's databases on one cluster, named after the file paths the tests open (`--engine postgresql`).

    A test opens a database by path (`Database(tmp_path / "ocms.duckdb")`); on PostgreSQL that path
    names a new empty database the first time it is opened, found again when it is reopened. `clone`
    copies one (CREATE DATABASE ... TEMPLATE) as copying the file does on DuckDB.
    """

    def __init__(self, url: str):
        self.url = url
        self.known: dict[str, str] = {}
        self._made = 0

    def _create(self, template: str = "template0") -> str:
        self._made += 1
        return new_database(self.url, f"t{os.getpid()}_{self._made}", template)

    def target(self, path: str) -> str:
        """The URL the database at `path` lives at (a new one for a new path, and for `:memory:`)."""
        if path.startswith(("postgresql://", "postgres://")):
            return path
        if path == ":memory:" or path not in self.known:
            url = self._create()
            if path == ":memory:":
                return url
            self.known[path] = url
        return self.known[path]

    def clone(self, source: str, path: str) -> None:
        """Make `path` a copy of the database at `source`, as copying the file does."""
        self.known[path] = self._create(self.known[source].rsplit("/", 1)[1])
