"""Fixtures shared by the scorer's test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package")
def spark():
    """One local Spark session (``local[2]``) for every Spark test module of this package: one JVM
    start, not one per module, stopped when the package's tests are done."""
    from signalpack.score.spark_engine import _session

    session = _session("local[2]")
    yield session
    session.stop()
