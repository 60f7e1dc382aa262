"""Public reads of the catalog: anyone may browse providers and offerings."""

from __future__ import annotations

import uuid
from functools import partial

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath

from core.bookings import Catalog, GetCatalog, GetOffering, ListProviders
from core.shared.ids import OfferingId, ProviderId
from entrypoints.http.auth import PUBLIC
from entrypoints.http.dto import (
    DEFAULT_LIMIT,
    After,
    Limit,
    OfferingOut,
    PlaceOut,
    ProviderOut,
    ProvidersPage,
    ResourceOut,
    next_cursor,
    page,
    provider_cursor,
)
from entrypoints.http.problems import PUBLIC_PROBLEMS, ok


class CatalogOut(msgspec.Struct, frozen=True):
    provider: ProviderOut
    places: list[PlaceOut]
    resources: list[ResourceOut]
    offerings: list[OfferingOut]

    @classmethod
    def of(cls, catalog: Catalog) -> CatalogOut:
        return cls(
            provider=ProviderOut.of(catalog.provider),
            places=[PlaceOut.of(p) for p in catalog.places],
            resources=[ResourceOut.of(r) for r in catalog.resources],
            offerings=[OfferingOut.of(o) for o in catalog.offerings],
        )


_read = partial(get, tags=["catalog"], opt={PUBLIC: True}, responses=PUBLIC_PROBLEMS)


@_read("/providers", summary="List providers")
async def list_providers(
    list_providers: NamedDependency[ListProviders],
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> ProvidersPage:
    found = ok(await list_providers(page(limit, after)))
    return ProvidersPage(
        items=[ProviderOut.of(p) for p in found[:limit]],
        next=next_cursor(found, limit, provider_cursor),
    )


@_read("/providers/{provider_id:str}", summary="A provider's catalog")
async def get_catalog(
    provider_id: FromPath[uuid.UUID], get_catalog: NamedDependency[GetCatalog]
) -> CatalogOut:
    return CatalogOut.of(ok(await get_catalog(ProviderId(provider_id))))


@_read("/offerings/{offering_id:str}", summary="One offering")
async def get_offering(
    offering_id: FromPath[uuid.UUID], get_offering: NamedDependency[GetOffering]
) -> OfferingOut:
    return OfferingOut.of(ok(await get_offering(OfferingId(offering_id))))


ROUTES = [list_providers, get_catalog, get_offering]
