"""Errors the domain raises for the pages to show as messages (never as stack traces)."""


class OcmsError(Exception):
    """Base of every error a user may see; its text is the message to show."""


class ValidationError(OcmsError):
    """Bad input: `errors` maps a field (or `section.row.field`) to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class StaleRecord(OcmsError):
    """The record changed since the user read it; their edit was not applied."""


class NotFound(OcmsError):
    """No such record in the acting user's agency."""


class Forbidden(OcmsError):
    """The acting user's role does not allow this."""


class Busy(OcmsError):
    """Other saves kept the database busy through every retry; nothing was saved."""
