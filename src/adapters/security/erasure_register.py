"""The erasure register as a file beside the key file (docs/adr/0025).

One person id per line, appended with O_APPEND and fsync'd before the erasure goes on, in a
file created owner-only. It travels with the key file, which is backed up apart from the
database: after a database restore, every id in it is shredded again, so a backup taken before
an erasure cannot bring the person back.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from core.shared.personal import ErasureRegister


def register_beside(kek_file: Path) -> Path:
    return kek_file.with_name(f"{kek_file.name}.erasures")


class FileErasureRegister(ErasureRegister):
    def __init__(self, path: Path) -> None:
        self._path = path

    @classmethod
    def beside(cls, kek_file: Path) -> FileErasureRegister:
        return cls(register_beside(kek_file))

    async def record(self, person: UUID) -> None:
        await asyncio.to_thread(self._append, f"{person}\n".encode())

    async def people(self) -> Sequence[UUID]:
        try:
            lines = await asyncio.to_thread(self._path.read_text)
        except FileNotFoundError:
            return []
        return list(dict.fromkeys(uuid.UUID(line) for line in lines.split() if line))

    def _append(self, line: bytes) -> None:
        descriptor = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
