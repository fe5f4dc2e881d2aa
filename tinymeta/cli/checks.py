"""What every subcommand checks before it starts work, and the error it raises when a check fails.

A ``UsageError`` is bad input the user can fix (an argument, a file): ``main``
prints its message as one line on stderr and exits with status 2, never with
a traceback.

``check_fits`` compares a configuration's estimated memory (the library's
``estimate_memory`` functions, by part) with what the machine has free, so
that ``--hidden 100000,100000`` is refused in a millisecond with a sentence
naming the option, instead of a ``MemoryError`` traceback minutes later, or
an empty run directory.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["UsageError", "available_memory", "check_fits", "format_bytes"]


class UsageError(Exception):
    """A bad argument or input file: reported as one line, exit status 2."""


def _read_int(path: str, field: str | None = None) -> int | None:
    """An integer from a /proc or /sys file (``field`` picks a ``Name: value kB`` line)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    if field is None:
        text = text.strip()
        return int(text) if text.isdigit() else None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == field and value.split() and value.split()[0].isdigit():
            return int(value.split()[0]) * (1024 if value.strip().endswith("kB") else 1)
    return None


def available_memory() -> int | None:
    """Bytes this process could still allocate, as far as the system says; None if unknown.

    Linux: ``MemAvailable`` from /proc/meminfo, capped by a cgroup (container)
    limit if there is one. Elsewhere: the physical memory, if ``sysconf`` knows it.
    """
    candidates = [_read_int("/proc/meminfo", "MemAvailable")]
    limit, used = _read_int("/sys/fs/cgroup/memory.max"), _read_int("/sys/fs/cgroup/memory.current")
    if limit is not None and used is not None:  # cgroup v2 ("max", no limit, is not a digit)
        candidates.append(max(limit - used, 0))
    if candidates[0] is None:
        try:
            candidates.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            pass
    known = [c for c in candidates if c is not None]
    return min(known) if known else None


def format_bytes(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def check_fits(command: str, parts: dict[str, int], available: int | None = None) -> None:
    """Raise ``UsageError`` if the memory ``parts`` need (bytes by what needs them, keys
    naming the options) exceeds what is available."""
    available = available_memory() if available is None else available
    needed = sum(parts.values())
    if available is None or needed <= available:
        return
    biggest = max(parts, key=lambda k: parts[k])
    raise UsageError(f"tinymeta {command}: error: this needs about {format_bytes(needed)} of "
                     f"memory ({format_bytes(parts[biggest])} for {biggest}) but about "
                     f"{format_bytes(available)} is available; choose smaller values")
