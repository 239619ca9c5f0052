"""One error hierarchy. The CLI maps it to exit codes, the HTTP API to status codes."""
from __future__ import annotations


class RagError(Exception):
    """Base class. ``str(err)`` is a one-line message fit for a user."""

    exit_code = 1
    http_status = 500


class InputError(RagError):
    """Bad input from the user: missing/empty/binary file, bad question, bad JSON."""

    exit_code = 2
    http_status = 422


class ModelError(RagError):
    """A model is missing, corrupt or cannot be fetched."""

    exit_code = 3
    http_status = 503


class IndexError_(RagError):
    """The index is missing, damaged or was built with other settings."""

    exit_code = 4
    http_status = 503


class BusyError(RagError):
    """The server is at capacity; try again later."""

    exit_code = 5
    http_status = 503


class TimeoutError_(RagError):
    exit_code = 6
    http_status = 504
