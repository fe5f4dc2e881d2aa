"""argparse argument types shared by the subcommands of ``tinymeta.cli``.

Each raises ``argparse.ArgumentTypeError`` with a one-line reason, which argparse turns
into ``tinymeta <command>: error: argument --option: ...`` and exit status 2, never a
traceback. They run while the command line is parsed, so a bad value or an output
path that cannot be written is reported before any work starts.

Integers stop at numpy's largest index (2**63 - 1 on 64-bit machines): a count
beyond it could never size an array, and would otherwise surface as an
``OverflowError`` from deep inside numpy.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

__all__ = [
    "directory", "positive_int", "non_negative_int", "positive_float", "positive_int_list",
    "layer_widths", "output_file", "unwritable_reason", "LARGEST",
]

LARGEST = int(np.iinfo(np.intp).max)  # numpy's largest index


def _int_at_least(text: str, low: int, expected: str, must: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be {must}, got {value}")
    if value > LARGEST:
        raise argparse.ArgumentTypeError(f"must be at most {LARGEST} (numpy's largest "
                                         f"index), got {text}")
    return value


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "a positive integer", "a positive integer")


def non_negative_int(text: str) -> int:
    return _int_at_least(text, 0, "an integer >= 0", ">= 0")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def _positive_ints(text: str, what: str) -> list[int]:
    try:
        return [positive_int(part) for part in text.split(",")]
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r} "
                                         f"({error})") from None


def positive_int_list(text: str) -> list[int]:
    """'1,5,10' -> [1, 5, 10]: step counts."""
    return _positive_ints(text, "positive integers like 1,5,10")


def layer_widths(text: str) -> list[int]:
    """'40,40' -> [40, 40]: the hidden widths of an MLP."""
    return _positive_ints(text, "layer widths like 40 or 40,40")


def directory(text: str) -> Path:
    """A non-empty path (an empty --out would silently mean the current directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a directory, got an empty string")
    return Path(text)


def unwritable_reason(path: Path) -> str | None:
    """Why a file cannot be written at ``path`` (creating missing directories), or None.

    Checks without creating anything: the path is not a directory, its nearest
    existing ancestor is a directory, and we may write in it.
    """
    if path.is_dir():
        return f"{path} is a directory"
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is a file, not a directory"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"no permission to write in {ancestor}"
    return None


def output_file(text: str) -> Path:
    """A file we could write (``-`` is standard output), checked before any work starts."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a file, got an empty string")
    path = Path(text)
    reason = None if text == "-" else unwritable_reason(path)
    if reason:
        raise argparse.ArgumentTypeError(f"cannot write {text}: {reason}")
    return path
