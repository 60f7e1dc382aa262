"""`reserva`: the operator's command line, on the same container as the HTTP API.

The CLI is a trusted operator console. Whoever can run it can already reach the database, so
it does not log in: every use case runs as the operator account of the OS user running it
(`identity.operator`), an admin with a second factor whose actions are audited under its id.

Every failure ends the process with exit status 1 and one line on stderr, never a traceback
(set RESERVA_DEBUG=1 to see one).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import psycopg
import stripe
import typer
import uvicorn
from alembic.util.exc import CommandError
from redis.exceptions import RedisError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import DBAPIError
from uvicorn.supervisors import Multiprocess

from adapters.postgis import migrate
from core.bookings import (
    Booking,
    BookingRules,
    NewOffering,
    Offering,
    OfferingKind,
    Page,
    Provider,
    ProviderBookings,
)
from core.shared.ids import BookingId, PlaceId, ProviderId, ResourceId, UserId
from core.shared.money import Money
from devservers.child_process import ChildServerError
from devservers.postgres import LocalPostgresError
from devservers.redis import LocalRedisError
from devservers.stripe_fake import LocalStripeError
from entrypoints.asgi import FACTORY
from entrypoints.cli import (
    backup,
    consent,
    demo,
    dev,
    identity,
    jobs,
    messages,
    payments,
    privacy,
    retention,
    webhooks,
)
from entrypoints.cli.console import CliError, err, fail, out, parse_id, say, value
from entrypoints.cli.environment import local_fakes, local_stripe, resolve_settings
from entrypoints.container import (
    Container,
    MediaNotConfigured,
    PaymentsNotConfigured,
    build_container,
    http_services,
)
from entrypoints.http.app import create_app
from entrypoints.http.server import TlsError, TlsFiles, server_config
from entrypoints.metrics import MULTIPROCESS_DIR, prepare_multiprocess_dir
from entrypoints.settings import Settings, SettingsError
from entrypoints.worker import run_worker, start_in_process_worker
from entrypoints.worker.handlers import HANDLERS, PERIODIC

T = TypeVar("T")

DEMO_SEED = 7

app = typer.Typer(
    help="Reserva: bookings marketplace backend.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo catalog.", no_args_is_help=True)
providers_app = typer.Typer(help="Providers.", no_args_is_help=True)
offerings_app = typer.Typer(help="Offerings.", no_args_is_help=True)
bookings_app = typer.Typer(help="Bookings.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(providers_app, name="providers")
app.add_typer(offerings_app, name="offerings")
app.add_typer(bookings_app, name="bookings")


# ---------------------------------------------------------------- failing clearly


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _database_problem(error: DBAPIError) -> str:
    if isinstance(error.orig, psycopg.errors.UndefinedTable):
        return "the database has no schema yet; run `reserva db upgrade`"
    if isinstance(error.orig, psycopg.OperationalError):
        return f"cannot reach the database: {_first_line(error.orig)}"
    return f"database error: {_first_line(error.orig or error)}"


def _guarded(work: Callable[[], T]) -> T:
    """Run a command; turn every failure into one line on stderr and exit status 1."""
    try:
        return work()
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except (
        CliError,
        SettingsError,
        LocalPostgresError,
        LocalRedisError,
        LocalStripeError,
        ChildServerError,
        PaymentsNotConfigured,
        MediaNotConfigured,
        CommandError,
        TlsError,
    ) as error:
        fail(_first_line(error))
    except DBAPIError as error:
        fail(_database_problem(error))
    except psycopg.OperationalError as error:  # the local cluster's own connections
        fail(f"cannot reach the database: {_first_line(error)}")
    except RedisError as error:
        fail(f"cannot reach Redis: {_first_line(error)}")
    except stripe.APIConnectionError as error:
        fail(f"cannot reach Stripe: {_first_line(error)}")
    except stripe.StripeError as error:
        fail(f"Stripe refused: {error.user_message or _first_line(error)}")
    except Exception as error:
        if os.environ.get("RESERVA_DEBUG"):
            raise
        fail(f"unexpected {type(error).__name__}: {_first_line(error)}")


# ---------------------------------------------------------------- running with the container


def _container(*, need_redis: bool = False) -> Container:
    return build_container(resolve_settings(need_redis=need_redis, say=say))


def _run(work: Callable[[Container], Awaitable[T]], *, need_redis: bool = False) -> T:
    """Build the container, run `work` on it in one event loop, release it afterwards."""

    async def within(container: Container) -> T:
        try:
            return await work(container)
        finally:
            await container.close()

    return _guarded(lambda: asyncio.run(within(_container(need_redis=need_redis))))


def _run_with_redis(work: Callable[[Container], Awaitable[T]]) -> T:
    return _run(work, need_redis=True)


# users ..., keys ..., audit. Locks and role changes refuse the user's access tokens at once,
# in every API process, through Redis: without it they fail (after committing; retry).
identity.mount(app, _run_with_redis)
# payments ..., ledger ...: through Stripe (in development, the fake `reserva serve` runs).
payments.mount(app, _run)
# messages ...: what was sent to whom; resending.
messages.mount(app, _run)
# privacy export|erase: a person's export and erasure, in-process (`privacy retention` joins).
privacy_app = privacy.mount(app, _run_with_redis)  # erasure ends live sessions (Redis)
consent.mount(app, _run)
# worker, jobs ...: running the job queue (mail, reminders, webhooks, photo deletions).
jobs.mount(app, _run)
# webhooks dead|redeliver: integrators' deliveries that failed for a day.
webhooks.mount(app, _run)
# retention [--dry-run]: personal data past its period. Temporarily at the root: it moves under
# the `privacy` group (`reserva privacy retention`) when that group lands.
retention.mount(privacy_app, _run)  # privacy retention [--dry-run]
# backup now|list|restore: pgBackRest on the private cluster (no container: it runs no use case).
backup.mount(app, _guarded)
# dev stop: the local PostgreSQL and Redis that `serve` leaves running in ./.data.
dev.mount(app, _guarded)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )


async def _load_demo(container: Container, count: int) -> demo.DemoSummary | None:
    """Load `count` demo providers if the catalog is empty; None if it is not."""
    if not await demo.is_empty(container.bookings_uow):
        return None
    with _progress() as progress:
        task = progress.add_task("Loading demo providers", total=count)
        return await demo.load(
            container.bookings_uow,
            count=count,
            seed=DEMO_SEED,
            now=container.clock().now(),
            progress=lambda done: progress.advance(task, done),
        )


def _summary(summary: demo.DemoSummary) -> str:
    return (
        f"loaded {summary.providers} providers in {summary.cities} cities: "
        f"{summary.places} places, {summary.resources} resources, "
        f"{summary.offerings} offerings, {summary.occurrences} session runs"
    )


# ---------------------------------------------------------------- serve


async def _prepare_demo(container: Container, demo_providers: int) -> None:
    """Load the demo catalog into an empty database, with its accounts and policies."""
    if not demo_providers:
        return
    summary = await _load_demo(container, demo_providers)
    if summary is not None:
        say(_summary(summary))
    identity.print_demo_accounts(await identity.ensure_demo_accounts(container))
    if published := await consent.ensure_demo_policies(container):
        say("published demo policies: " + ", ".join(published))


def _jobs_process(concurrency: int) -> None:
    """The job worker beside several API processes: a process of its own, with its own
    container, from the environment `serve` set up (Settings.to_env). SIGTERM stops it
    after its running jobs."""

    async def work() -> None:
        container = build_container(Settings.from_env(os.environ))
        try:
            await run_worker(container, concurrency, handlers=HANDLERS, periodic=PERIODIC)
        finally:
            await container.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(work())


WORKER_HEALTHCHECK_SECONDS = 30


def _share_metrics(port: int) -> None:
    """observe (issue 12): the processes write their metrics to files in one directory, from
    which any of them answers /metrics for all (entrypoints.metrics). Emptied at each start."""
    directory = os.environ.get(MULTIPROCESS_DIR) or str(
        Path(tempfile.gettempdir()) / f"reserva-metrics-{port}"
    )
    prepare_multiprocess_dir(Path(directory))
    os.environ[MULTIPROCESS_DIR] = directory


def _serve_in_processes(
    settings: Settings, host: str, port: int, workers: int, concurrency: int
) -> None:
    """`workers` uvicorn processes sharing one listening socket (uvicorn's supervisor
    restarts any that dies) and the job worker in one more; all stop on Ctrl-C or SIGTERM."""
    os.environ.update(settings.to_env())  # every child builds its container from it
    _share_metrics(port)  # observe (issue 12)
    # uvicorn kills a child that has not answered its health ping within the timeout (5 s by
    # default); building a container and importing the app takes longer than that on a busy
    # 2-core machine, and a first child was seen killed and restarted at start.
    config = server_config(
        FACTORY,
        host=host,
        port=port,
        factory=True,
        workers=workers,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        tls=_tls(settings),
    )
    jobs = multiprocessing.get_context("spawn").Process(
        target=_jobs_process, args=(concurrency,), name="reserva jobs"
    )
    jobs.start()
    try:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    finally:
        jobs.terminate()
        jobs.join(timeout=30)
        if jobs.is_alive():
            jobs.kill()


def _tls(settings: Settings) -> TlsFiles | None:
    """The certificate and key `serve` terminates TLS with, if configured (ADR 37)."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    return TlsFiles(cert_file=settings.tls_cert_file, key_file=settings.tls_key_file)


def _say_local_servers_stay() -> None:
    """The private servers outlive `serve` (the next start is quicker): say how to stop them."""
    local = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name, "").strip()]
    if local:
        servers = " and ".join("PostgreSQL" if n == "DATABASE_URL" else "Redis" for n in local)
        verb = "keep" if len(local) > 1 else "keeps"
        say(f"the local {servers} {verb} running after serve stops; {dev.STOP_HINT}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    demo_providers: Annotated[
        int, typer.Option(min=0, help="Demo providers to load into an empty catalog (0: none).")
    ] = 3000,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=256,
            envvar="RESERVA_WORKERS",
            help="API processes (default: one per CPU core); 1 runs everything in one process.",
        ),
    ] = None,
) -> None:
    """Run the HTTP API (docs at /docs) on every core and one worker (mail, reminders,
    webhooks), with local PostGIS, Redis and fakes of Stripe, SendGrid, WhatsApp and
    Cloudinary unless configured; the worker also runs the periodic jobs (the payments
    sweeper every minute)."""
    api_processes = workers or os.cpu_count() or 1

    async def run_in_one_process(
        container: Container, concurrency: int, tls: TlsFiles | None
    ) -> None:
        worker = None
        try:
            await _prepare_demo(container, demo_providers)
            config = server_config(
                create_app(http_services(container)), host=host, port=port, tls=tls
            )
            worker = start_in_process_worker(
                container, concurrency, handlers=HANDLERS, periodic=PERIODIC
            )
            await uvicorn.Server(config).serve()
        finally:
            if worker is not None:
                await worker.stop()
            await container.close()

    async def prepare(container: Container) -> None:
        try:
            await _prepare_demo(container, demo_providers)
        finally:
            await container.close()

    def start() -> None:
        stripe = local_stripe(host, port)
        fakes = local_fakes(host, port)
        try:
            settings = resolve_settings(need_redis=True, say=say, stripe=stripe, fakes=fakes)
            _say_local_servers_stay()
            tls = _tls(settings)
            if tls is not None:
                tls.check()  # here, not in a worker that would be restarted again and again
                say("TLS_CERT_FILE set: serving HTTPS only, TLS 1.3 only")
            with err.status("Migrating the database..."):
                migrate.upgrade(settings.migrator_url, app_role=settings.app_role)
            # One worker beside the API in development: `reserva worker` scales it out.
            concurrency = min(settings.worker_concurrency, 2)
            if api_processes == 1:
                asyncio.run(run_in_one_process(build_container(settings), concurrency, tls))
            else:
                asyncio.run(prepare(build_container(settings)))
                say(f"serving with {api_processes} API processes")
                _serve_in_processes(settings, host, port, api_processes, concurrency)
        finally:
            fakes.stop()
            if stripe is not None:
                stripe.stop()

    _guarded(start)


# ---------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Migrate the schema up to REVISION (default: the latest)."""

    def upgrade() -> None:
        settings = resolve_settings(need_redis=False, say=say)
        url = settings.migrator_url
        with err.status(f"Upgrading to {revision}..."):
            migrate.upgrade(url, revision, app_role=settings.app_role)
        out.print(f"database at {migrate.current(url) or 'base'}")

    _guarded(upgrade)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. base or -1.")],
) -> None:
    """Migrate the schema down to REVISION."""

    def downgrade() -> None:
        settings = resolve_settings(need_redis=False, say=say)
        url = settings.migrator_url
        with err.status(f"Downgrading to {revision}..."):
            migrate.downgrade(url, revision, app_role=settings.app_role)
        out.print(f"database at {migrate.current(url) or 'base'}")

    _guarded(downgrade)


# ---------------------------------------------------------------- demo


@demo_app.command("load")
def demo_load(
    count: Annotated[int, typer.Option(min=1, max=100_000, help="Providers to create.")] = 3000,
) -> None:
    """Load the demo catalog into an empty database."""
    summary = _run(lambda container: _load_demo(container, count))
    if summary is None:
        fail("the catalog already has providers; demo data only loads into an empty one")
    out.print(_summary(summary))


# ---------------------------------------------------------------- providers


def _providers_table(providers: Sequence[Provider]) -> Table:
    table = Table("id", "name")
    for provider in providers:
        table.add_row(str(provider.id), provider.name)
    return table


@providers_app.command("list")
def providers_list(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows to show.")] = 50,
    after: Annotated[str | None, typer.Option(help="Continue after this provider id.")] = None,
) -> None:
    """List providers by id."""
    found = value(_run(lambda c: c.list_providers()(Page(limit=limit, after=after))))
    out.print(_providers_table(found))
    if len(found) == limit:
        say(f"more: --after {found[-1].id}")


@providers_app.command("create")
def providers_create(name: Annotated[str, typer.Argument(help="Display name.")]) -> None:
    """Create a provider."""

    async def create(c: Container) -> Provider:
        return value(await c.create_provider()(await identity.operator(c), name))

    out.print(_providers_table([_run(create)]))


# ---------------------------------------------------------------- offerings


def _offerings_table(offerings: Sequence[Offering]) -> Table:
    table = Table("id", "name", "kind", "category", "price", "minutes", "capacity", "place")
    for o in offerings:
        table.add_row(
            str(o.id),
            o.name,
            str(o.kind),
            o.category,
            o.price.display(),
            str(o.rules.duration // timedelta(minutes=1)),
            str(o.capacity),
            str(o.place_id),
        )
    return table


@offerings_app.command("list")
def offerings_list(
    provider: Annotated[str, typer.Option(help="Provider id.")],
) -> None:
    """List a provider's offerings."""
    provider_id = ProviderId(_guarded(lambda: parse_id("provider", provider)))

    async def catalog(c: Container) -> Sequence[Offering]:
        return value(await c.get_catalog()(provider_id)).offerings

    out.print(_offerings_table(_run(catalog)))


@offerings_app.command("create")
def offerings_create(
    place: Annotated[str, typer.Option(help="Place id.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    category: Annotated[str, typer.Option(help="e.g. tennis, yoga, haircut.")],
    price: Annotated[str, typer.Option(help="Decimal amount, e.g. 12.50.")],
    currency: Annotated[str, typer.Option(help="ISO 4217 code.")] = "EUR",
    kind: Annotated[OfferingKind, typer.Option(help="Appointment or session.")] = (
        OfferingKind.APPOINTMENT
    ),
    duration: Annotated[int, typer.Option(min=1, max=1440, help="Minutes.")] = 60,
    step: Annotated[int | None, typer.Option(min=1, max=1440, help="Minutes between starts.")] = (
        None
    ),
    capacity: Annotated[int, typer.Option(min=1, help="Seats per session run.")] = 1,
    resource: Annotated[
        list[str] | None, typer.Option(help="Resource id serving appointments (repeatable).")
    ] = None,
) -> None:
    """Create an offering at a place."""

    def command() -> NewOffering:
        minutes = timedelta(minutes=1)
        return NewOffering(
            place_id=PlaceId(parse_id("place", place)),
            kind=kind,
            name=name,
            category=category,
            price=value(Money.parse(price, currency)),
            rules=BookingRules(duration=duration * minutes, slot_step=(step or duration) * minutes),
            resource_ids=tuple(ResourceId(parse_id("resource", r)) for r in resource or []),
            capacity=capacity,
        )

    new = _guarded(command)

    async def create(c: Container) -> Offering:
        return value(await c.create_offering()(await identity.operator(c), new))

    out.print(_offerings_table([_run(create)]))


# ---------------------------------------------------------------- bookings


def _bookings_table(bookings: Sequence[Booking], erased: frozenset[UserId] = frozenset()) -> Table:
    """`erased`: customers shown as "erased customer" (their bookings stay, pseudonymous)."""
    table = Table("id", "status", "start (UTC)", "seats", "price", "provider", "customer")
    for b in bookings:
        customer = str(b.customer_id)
        table.add_row(
            str(b.id),
            str(b.status),
            b.during.start.strftime("%Y-%m-%d %H:%M"),
            str(b.seats),
            b.price.display(),
            str(b.provider_id),
            f"{customer} (erased customer)" if b.customer_id in erased else customer,
        )
    return table


async def _all_providers(c: Container) -> list[Provider]:
    found: list[Provider] = []
    while page := value(
        await c.list_providers()(Page(limit=500, after=str(found[-1].id) if found else None))
    ):
        found.extend(page)
    return found


async def _newest_everywhere(c: Container, limit: int) -> ProviderBookings:
    """The newest bookings across providers: each provider's newest, merged."""
    caller = await identity.operator(c)
    providers = await _all_providers(c)
    found: list[Booking] = []
    erased: set[UserId] = set()
    with _progress() as progress:
        task = progress.add_task("Reading providers' bookings", total=len(providers))
        for provider in providers:
            page = value(await c.list_provider_bookings()(caller, provider.id, Page(limit=limit)))
            found.extend(page.bookings)
            erased |= page.erased_customers
            progress.advance(task)
    newest = sorted(found, key=lambda b: (b.created_at, b.id), reverse=True)[:limit]
    return ProviderBookings(bookings=newest, erased_customers=frozenset(erased))


@bookings_app.command("list")
def bookings_list(
    provider: Annotated[str | None, typer.Option(help="Only this provider's bookings.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows to show.")] = 20,
) -> None:
    """List the newest bookings, of one provider or of all."""
    provider_id = None if provider is None else _guarded(lambda: parse_id("provider", provider))

    async def newest(c: Container) -> ProviderBookings:
        if provider_id is None:
            return await _newest_everywhere(c, limit)
        page = Page(limit=limit)
        return value(
            await c.list_provider_bookings()(
                await identity.operator(c), ProviderId(provider_id), page
            )
        )

    shown = _run(newest)
    out.print(_bookings_table(shown.bookings, shown.erased_customers))


@bookings_app.command("cancel")
def bookings_cancel(booking: Annotated[str, typer.Argument(help="Booking id.")]) -> None:
    """Cancel a held or confirmed booking."""
    booking_id = BookingId(_guarded(lambda: parse_id("booking", booking)))

    async def cancel(c: Container) -> Booking:
        return value(await c.cancel_booking()(await identity.operator(c), booking_id))

    out.print(_bookings_table([_run(cancel)]))
