"""The session's messaging fake (shared with the messaging_fake and SendGrid tests), emptied
before each test."""

from __future__ import annotations

import pytest

from messaging_fake_support import Messaging, fresh, shared_messaging


@pytest.fixture(scope="session")
def session_messaging(pytestconfig: pytest.Config) -> Messaging:
    return shared_messaging(pytestconfig)


@pytest.fixture
def messaging(session_messaging: Messaging) -> Messaging:
    return fresh(session_messaging)
