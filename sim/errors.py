"""Errors that the command line reports as a clear message and exit status 2 (no traceback)."""

from __future__ import annotations


class SimError(Exception):
    """Base class for user-facing errors: bad input, not bugs."""


class ConfigError(SimError):
    """A scenario or study file is missing, malformed or invalid.

    Parameters
    ----------
    path
        The file at fault (or ``"<--set>"`` for command-line overrides).
    problems
        One ``(field, message)`` pair per problem; ``field`` is a dotted path such as
        ``traffic.peak_requests_per_s`` or ``""`` for the file as a whole.
    """

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{path}: invalid configuration"]
        for field, message in problems:
            lines.append(f"  - {field}: {message}" if field else f"  - {message}")
        super().__init__("\n".join(lines))


class TraceError(SimError):
    """A traffic trace file is missing, empty or malformed."""


class ResultError(SimError):
    """A result directory (of a run, sweep or study) is missing, incomplete or not sim's.

    ``path``: the directory or file at fault; ``message``: what is wrong and what to do."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")
