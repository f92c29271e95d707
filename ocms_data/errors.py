"""Errors the domain raises for the pages to show as messages (never as stack traces)."""

import re

_ROW_KEY = re.compile(r"\.(\d+)\.")


class OcmsError(Exception):
    """Base of every error a user may see; its text is the message to show."""


class ValidationError(OcmsError):
    """Bad input: `errors` maps a field (or `section.row.field`) to its message.

    Each message is a sentence that names its field by label, so the text of the error is the
    messages alone: the keys are for placing each message at its field, never for showing.
    """

    def __init__(self, errors: dict[str, str]):
        super().__init__(" ".join(_placed(k, v) for k, v in errors.items()))
        self.errors = errors


def _placed(key: str, message: str) -> str:
    row = _ROW_KEY.search(key)
    return f"Row {row.group(1)}: {message}" if row else message


class StaleRecord(OcmsError):
    """The record changed since the user read it; their edit was not applied."""


class NotFound(OcmsError):
    """No such record in the acting user's agency."""


class Forbidden(OcmsError):
    """The acting user's role does not allow this."""


class Busy(OcmsError):
    """Other saves kept the database busy through every retry; nothing was saved."""


class Conflict(OcmsError):
    """A save broke a rule the database keeps (e.g. the same thing added twice at once); nothing was saved."""


class ConfigError(OcmsError):
    """The app's configuration (its environment) is incomplete; the message says what to set."""
