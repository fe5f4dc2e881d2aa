"""Printed rounding errors differ between machines and numpy versions (6.9e-18 here,
2.2e-16 there): tests that compare printed text mask them first."""

from __future__ import annotations

import re

TINY = re.compile(r"\d\.\de-1\d")


def mask_rounding(text: str) -> str:
    return TINY.sub("<tiny>", text)
