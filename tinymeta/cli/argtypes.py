"""argparse argument types shared by the subcommands of ``tinymeta.cli``.

Each raises ``argparse.ArgumentTypeError`` with a one-line reason, which argparse turns
into ``tinymeta <command>: error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = [
    "directory", "positive_int", "non_negative_int", "positive_float", "positive_int_list",
    "layer_widths",
]


def _int_at_least(text: str, low: int, expected: str, must: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be {must}, got {value}")
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
    """'1,5,10' -> [1, 5, 10]."""
    return _positive_ints(text, "positive integers like 1,5,10")


def layer_widths(text: str) -> list[int]:
    """'8,8' -> [8, 8]: the hidden widths of an MLP."""
    return _positive_ints(text, "widths like 4 or 8,8")


def directory(text: str) -> Path:
    """A non-empty path (an empty --out would silently mean the current directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a directory, got an empty string")
    return Path(text)
