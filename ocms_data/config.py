"""Configuration from the environment: which database the app uses, the signing secret, the idle sign-out."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from datetime import timedelta
from pathlib import Path

from ocms_data.errors import ConfigError
from ocms_data.store import is_url

DEFAULT_DB = Path("data") / "ocms.duckdb"
IDLE_MINUTES = 20  # OCMS_IDLE_MINUTES when it is not set
SHARED_SECRET = (
    "OCMS_DB names a PostgreSQL database, so the app has no folder to keep a generated secret in, and every "
    "app process on that database must sign sign-in cookies with the same one: set OCMS_SECRET to a long "
    "random value (for example the output of `python -c 'import secrets; print(secrets.token_urlsafe(48))'`), "
    "the same for every app process, then start the app again."
)


def db_target() -> str:
    """`OCMS_DB` (a DuckDB file path or a `postgresql://` URL), else data/ocms.duckdb under the working directory."""
    return os.environ.get("OCMS_DB") or str(DEFAULT_DB)


def idle() -> timedelta:
    """How long a sign-in lasts without activity: `OCMS_IDLE_MINUTES` (minutes, decimals allowed), else 20."""
    raw = os.environ.get("OCMS_IDLE_MINUTES", "").strip()
    try:
        minutes = float(raw) if raw else IDLE_MINUTES
    except ValueError:
        minutes = -1
    if not 0 < minutes <= 8 * 60:
        raise ConfigError(f"OCMS_IDLE_MINUTES must be a number of minutes above 0 and at most 480, not {raw!r}.")
    return timedelta(minutes=minutes)


def secret_path(db: str | Path) -> Path:
    """Where the generated secret of a DuckDB file lives: the user's configuration folder, not the data folder.

    `$XDG_CONFIG_HOME/ocms-lite/secrets/` (else `~/.config/...`), one file per database (named by a hash
    of its full path), so that a copy of the data folder cannot sign anyone's cookie.
    """
    home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    name = hashlib.sha256(str(Path(db).resolve()).encode()).hexdigest()[:24]
    return Path(home) / "ocms-lite" / "secrets" / name


def secret(db: str | Path | None = None) -> str:
    """`OCMS_SECRET`, else a random secret made on first run for the DuckDB file (`secret_path`).

    A PostgreSQL database has no file of ours, and the app processes sharing it must share the secret
    too, so there `OCMS_SECRET` is required (`ConfigError` says so).
    """
    if os.environ.get("OCMS_SECRET"):
        return os.environ["OCMS_SECRET"]
    target = str(db or db_target())
    if is_url(target):
        raise ConfigError(SHARED_SECRET)
    path = secret_path(target)
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it first: read theirs
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
