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
def cluster() -> Iterator[str]:
    """A running cluster with a database `ocms`; yields its URL."""
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
        pg("pg_ctl", "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "start")
        pg("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", USER, "ocms")
        yield f"postgresql://{USER}@127.0.0.1:{port}/ocms"
    finally:
        if (data / "postmaster.pid").exists():  # started: stop it, whatever failed since
            pg("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)
