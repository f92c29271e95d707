"""The only code that talks to a database: a handle per unit of work (`Handle`), engines behind it.

`engine(target)` opens the one a target names: a `postgresql://` URL is PostgreSQL (`store.postgres`),
anything else the path of a DuckDB file (`store.duck`, the embedded default).
"""

from __future__ import annotations

from pathlib import Path

URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(target: str | Path) -> bool:
    """Whether `target` names a PostgreSQL database rather than a DuckDB file."""
    return str(target).startswith(URL_SCHEMES)


def engine(target: str | Path):
    """The engine for `target` (a DuckDB path, `:memory:`, or a PostgreSQL URL), connected."""
    if is_url(target):
        from ocms_data.store.postgres import PgEngine  # noqa: PLC0415 (psycopg loads only for PostgreSQL)

        return PgEngine(str(target))
    from ocms_data.store.duck import DuckEngine  # noqa: PLC0415

    return DuckEngine(str(target))


def shown(target: str | Path) -> str:
    """`target` fit to print: a URL without its password."""
    if is_url(target):
        from ocms_data.store.postgres import redacted  # noqa: PLC0415

        return redacted(str(target))
    return str(target)
