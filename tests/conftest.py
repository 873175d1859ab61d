"""Shared fixtures and the hypothesis profiles (``HYPOTHESIS_PROFILE=ci`` bounds examples)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("soak", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# -- device store fixtures ------------------------------------------------------------------

import random  # noqa: E402
from typing import Any, Iterator  # noqa: E402

import pytest  # noqa: E402

from client_kit.store import DeviceStore  # noqa: E402
from store_helpers import FixedClock, seed  # noqa: E402


@pytest.fixture
def clock() -> FixedClock:
    """A wall clock standing at 2026-03-01 00:00 UTC until a test moves it."""
    return FixedClock()


@pytest.fixture
def fresh_store(tmp_path, clock) -> Iterator[DeviceStore]:  # type: ignore[no-untyped-def]
    """An empty device store in a temporary file, with a fixed clock and seeded randomness."""
    rng = random.Random(1)
    store = DeviceStore.open(tmp_path / "device.sqlite", device_id="dev-a", clock=clock,
                             random=rng.randbytes)
    yield store
    store.close()


@pytest.fixture
def seeded(fresh_store) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The fresh store's village, one household and its head (``village``, ``household``,
    ``person``)."""
    return seed(fresh_store)


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    """Tests marked ``slow`` run only when asked: ``-m slow`` or ``CUNSYNC_SLOW=1``."""
    if "slow" in (config.option.markexpr or "") or os.environ.get("CUNSYNC_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow or CUNSYNC_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
