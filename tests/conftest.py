"""Shared test set-up: a seeded RNG for every test and a fast hypothesis profile.

Every test starts from the same numpy random state, so a failure reproduces
exactly when the test is run alone. Tests that want their own generator take
the ``rng`` fixture (a seeded ``np.random.Generator``).

Hypothesis runs few examples by default (the suite must stay fast on two
cores); ``HYPOTHESIS_PROFILE=thorough`` runs many more when hunting a bug.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "tinymeta",
    max_examples=30,
    deadline=None,  # the first example pays for imports and warm-up
    derandomize=True,  # the same examples on every run: CI failures reproduce locally
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "tinymeta"))


@pytest.fixture(autouse=True)
def _seed_numpy() -> None:
    """Seed numpy's global RNG before every test."""
    np.random.seed(0)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator for tests that draw their own inputs."""
    return np.random.default_rng(0)
