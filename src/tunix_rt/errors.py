"""Domain errors.

Every failure a user can cause or fix (bad input, a database that is down or at the wrong
schema, an unknown id) is a `TunixRtError`. The CLI turns these into one line on stderr and
exit code 1; anything else is a bug and may show a traceback.
"""

from __future__ import annotations


class TunixRtError(Exception):
    """Base class: the message is shown to the user as `error: <message>`."""


class SettingsError(TunixRtError):
    """A TUNIX_RT_* setting (or --db) has an invalid value."""


class DatabaseUnavailableError(TunixRtError):
    """The database cannot be reached or opened."""


class SchemaMismatchError(TunixRtError):
    """The database schema is not at the revision this tunix-rt needs."""


class TraceNotFoundError(TunixRtError):
    """No trace matches the given id or prefix."""


class AmbiguousIdError(TunixRtError):
    """An id prefix matches more than one trace."""


class InvalidInputError(TunixRtError):
    """Input could not be read or did not validate; nothing was stored."""


class CursorError(TunixRtError):
    """A pagination cursor is malformed."""


class OutputError(TunixRtError):
    """Results cannot be written (stdout closed, disk full)."""
