"""A use case is registered once, in the container, and HTTP finds it there.

No server is needed: the app is only built, never called.
"""

from __future__ import annotations

from litestar import Litestar

from core.bookings import ConfirmPaidBooking, ReadBookings
from core.shared.use_case import UseCase
from entrypoints.container import Container, http_services, use_case_providers
from entrypoints.http.app import create_app


def _use_case_parameters(app: Litestar) -> dict[tuple[str, str], type]:
    """(handler, parameter) -> use-case class, for every handler parameter typed as one."""
    found: dict[tuple[str, str], type] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for name, parameter in handler.parsed_fn_signature.parameters.items():
                annotation = parameter.annotation
                if isinstance(annotation, type) and issubclass(annotation, UseCase):
                    found[handler.handler_name, name] = annotation
    return found


def test_every_use_case_in_the_container_is_an_http_dependency() -> None:
    container = Container()
    app = create_app(http_services(container))

    use_cases = use_case_providers(container)

    assert {"hold_slot", "login", "grant_admin"} <= use_cases.keys()  # bookings and identity
    assert use_cases.keys() <= app.dependencies.keys()


def test_every_handler_parameter_naming_a_use_case_gets_that_use_case() -> None:
    container = Container()
    app = create_app(http_services(container))
    use_cases = use_case_providers(container)

    wanted = _use_case_parameters(app)

    assert len(wanted) > 40  # every bookings and identity route names one
    for (handler, name), declared in wanted.items():
        assert name in use_cases, f"{handler}: no use case registered as `{name}`"
        provided = container.providers[name].provides
        assert provided is declared, f"{handler}: `{name}` is a {provided}, not {declared}"


def test_the_use_cases_payments_calls_are_registered_but_no_route_calls_them() -> None:
    container = Container()
    app = create_app(http_services(container))
    system = {"confirm_paid_booking": ConfirmPaidBooking, "read_bookings": ReadBookings}

    named_by_handlers = {name for _, name in _use_case_parameters(app)}

    for name, use_case in system.items():
        assert container.providers[name].provides is use_case
        assert name in use_case_providers(container)
    assert not named_by_handlers & system.keys()
