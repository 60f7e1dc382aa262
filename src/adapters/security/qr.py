"""QR codes for otpauth:// URIs with segno (pure Python)."""

from __future__ import annotations

import io

import segno

from core.identity.ports import QrRenderer


class SegnoQrRenderer(QrRenderer):
    def __init__(self, *, scale: int = 5) -> None:
        self._scale = scale

    def png(self, data: str) -> bytes:
        out = io.BytesIO()
        segno.make(data, error="m").save(out, kind="png", scale=self._scale)
        return out.getvalue()

    def svg(self, data: str) -> str:
        out = io.BytesIO()
        segno.make(data, error="m").save(out, kind="svg", scale=self._scale, xmldecl=False)
        return out.getvalue().decode()
