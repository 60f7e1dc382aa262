"""The GA4 fake for a test session: one child process, reset before each test that uses it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devservers.ga4_fake import LocalGa4
from devservers.net import free_port


@pytest.fixture(scope="session")
def ga4_server() -> Iterator[LocalGa4]:
    with LocalGa4(free_port()) as fake:
        yield fake


@pytest.fixture
def ga4(ga4_server: LocalGa4) -> LocalGa4:
    ga4_server.control.reset()
    return ga4_server
