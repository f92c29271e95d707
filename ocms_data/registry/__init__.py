"""Field registry: the types every form, table, grid, check and export is derived from.

`model` holds the types (Need, Kind, Field, Form, Catalog …), `loading` reads the catalog folder
(`ocms_data/catalog/`) into them, `checks` is the catalog's self-check and `reference` the reference-table
declarations (reference.toml) with their own reading and checks. The names callers use are re-exported here.
"""

from ocms_data.registry.loading import CATALOG_DIR, CatalogError, default_catalog, load
from ocms_data.registry.model import (
    KINDS,
    NEED_COLOURS,
    NEED_WORDS,
    TEXT_MAX_LEN,
    Catalog,
    Condition,
    Field,
    Form,
    Kind,
    Lock,
    Need,
    Section,
    sql_literal,
)

__all__ = [
    "CATALOG_DIR",
    "KINDS",
    "NEED_COLOURS",
    "NEED_WORDS",
    "TEXT_MAX_LEN",
    "Catalog",
    "CatalogError",
    "Condition",
    "Field",
    "Form",
    "Kind",
    "Lock",
    "Need",
    "Section",
    "default_catalog",
    "load",
    "sql_literal",
]
