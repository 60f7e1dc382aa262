"""Cloudinary, through its official SDK: the asset store of the media context."""

from adapters.cloudinary.store import (
    CloudinaryConfig,
    CloudinaryMediaStore,
    CloudinaryRefused,
    CloudinaryUnavailable,
)

__all__ = [
    "CloudinaryConfig",
    "CloudinaryMediaStore",
    "CloudinaryRefused",
    "CloudinaryUnavailable",
]
