"""`_wired`: the container builds a use case from the ports its fields name, and refuses at
definition time a use case that needs a port the container does not have."""

from __future__ import annotations

import attrs
import pytest
from dependency_injector import providers

from core.shared.use_case import UseCase
from entrypoints.container import _wired


@attrs.frozen(kw_only=True)
class Greet(UseCase):
    clock: object
    outbox: object
    greeting: str = "hello"


def test_a_use_case_is_built_from_the_ports_its_fields_name() -> None:
    clock, outbox = object(), object()

    built = _wired(Greet, {"clock": providers.Object(clock), "outbox": providers.Object(outbox)})()

    assert built == Greet(clock=clock, outbox=outbox)  # the default field needs no port


def test_a_missing_port_fails_when_the_use_case_is_wired() -> None:
    with pytest.raises(TypeError, match=r"Greet needs ports the container lacks: \['outbox'\]"):
        _wired(Greet, {"clock": providers.Object(object())})
