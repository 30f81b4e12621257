"""``download_to``'s file work: which bodies ``FileWork`` may write inline, and clean failures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, TypeVarTuple

import httpx
import pytest

from bgcut_stream.client.download import INLINE_BYTES, SPILL_BYTES, download_to
from bgcut_stream.client.file_work import FileWork

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class RecordingFileWork(FileWork):
    """FileWork that remembers the ``small`` of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.smalls: list[bool] = []

    async def run(self, fn: Callable[[*Ts], T], *args: *Ts, small: bool) -> T:
        self.smalls.append(small)
        return await super().run(fn, *args, small=small)


def client_serving(size: int) -> httpx.AsyncClient:
    """A client whose every GET answers ``size`` bytes of PNG-typed body (pure logic: no I/O)."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "image/png"}, content=b"x" * size)

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


@pytest.mark.parametrize(
    ("size", "small"),
    [(1000, True), (INLINE_BYTES, True), (INLINE_BYTES + 1, False), (SPILL_BYTES + 1, False)],
)
async def test_only_bodies_up_to_1_mib_may_be_written_inline(
    tmp_path: Path, size: int, small: bool
) -> None:
    files = RecordingFileWork()
    async with client_serving(size) as http:
        result = await download_to(
            http, "http://cdn.test/out.png", tmp_path / "out.png", files=files, max_bytes=1 << 30
        )
    assert files.smalls == [small]
    assert result.size == size
    assert listing(tmp_path) == {"out.png": size}  # in place, no part file left


@pytest.mark.parametrize("size", [1000, INLINE_BYTES + 1])
async def test_a_failed_rename_leaves_no_part_file(tmp_path: Path, size: int) -> None:
    occupied = tmp_path / "out.png"
    occupied.mkdir()
    (occupied / "keep").write_bytes(b"")  # a non-empty folder where the output should go
    async with client_serving(size) as http:
        with pytest.raises(OSError):  # noqa: PT011 - which OSError depends on the platform
            await download_to(
                http, "http://cdn.test/out.png", occupied, files=FileWork(), max_bytes=1 << 30
            )
    assert listing(tmp_path) == {"out.png": -1}  # the folder, untouched; the part file gone


def listing(folder: Path) -> dict[str, int]:
    """Names in ``folder`` and their sizes (-1 for a folder)."""
    return {p.name: -1 if p.is_dir() else p.stat().st_size for p in folder.iterdir()}
