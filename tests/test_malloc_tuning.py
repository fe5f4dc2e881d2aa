"""tinymeta.cli.malloc_tuning: glibc's thresholds are raised where glibc is the C library."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from tinymeta.cli import malloc_tuning

GLIBC = platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_tune_takes_effect_on_glibc():
    # in a subprocess: the setting is process-wide, and the test process is not ours to tune
    code = "from tinymeta.cli import malloc_tuning; print(malloc_tuning.tune())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_tune_reports_failure_instead_of_raising(monkeypatch):
    def no_libc(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(malloc_tuning.ctypes, "CDLL", no_libc)
    assert malloc_tuning.tune() is False
