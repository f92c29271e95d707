"""Configuration from the environment: where the database lives and the signing secret."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DEFAULT_DB = Path("data") / "ocms.duckdb"
SECRET_FILE = ".ocms_secret"


def db_path() -> Path:
    """`OCMS_DB`, else data/ocms.duckdb under the working directory."""
    return Path(os.environ.get("OCMS_DB") or DEFAULT_DB)


def secret(db: Path | None = None) -> str:
    """`OCMS_SECRET`, else a random secret kept next to the database (made on first run)."""
    if os.environ.get("OCMS_SECRET"):
        return os.environ["OCMS_SECRET"]
    path = (db or db_path()).parent / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def private_files() -> None:
    """Make every file this process creates readable by its own user only (database, WAL, secret, uploads).

    DuckDB creates its WAL and temporary files itself, with the process umask: setting the umask
    is the one place that covers them all.
    """
    os.umask(0o077)
