"""PostGIS storage of the media context: the photos table, its repository, the catalog
owners as media reads them, destroy jobs deferred in the same transaction (procrastinate),
and the unit of work over them."""

from adapters.postgis.media.unit_of_work import PostgisMediaUnitOfWork

__all__ = ["PostgisMediaUnitOfWork"]
