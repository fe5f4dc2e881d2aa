"""What every subcommand checks before it starts work, and the error it raises when a check fails.

A ``UsageError`` is bad input the user can fix (an argument, a file): ``main``
prints its message as one line on stderr and exits with status 2, never with
a traceback.
"""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(Exception):
    """A bad argument or input file: reported as one line, exit status 2."""
