"""An AI Cut session on the client side: accumulates dots and numbers the requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from bgcut_stream.api.models import Dot, SegmentIn, SegmentOut


@dataclass
class AiCutSession:
    """Keeps every green/red dot of the session; each ``segment`` sends them all."""

    unique_filename: str
    send: Callable[[SegmentIn], Awaitable[SegmentOut]]
    green: list[Dot] = field(default_factory=list)
    red: list[Dot] = field(default_factory=list)
    request_number: int = 0
    _history: list[tuple[int, int]] = field(default_factory=list)

    async def segment(
        self, green: Iterable[tuple[int, int]] = (), red: Iterable[tuple[int, int]] = ()
    ) -> SegmentOut:
        """Add dots (x, y in image pixels), then segment with the full accumulated set."""
        self._history.append((len(self.green), len(self.red)))
        self.green.extend(Dot(x=x, y=y) for x, y in green)
        self.red.extend(Dot(x=x, y=y) for x, y in red)
        return await self._send()

    async def undo(self) -> SegmentOut:
        """Drop the dots of the last ``segment`` call and segment again."""
        if self._history:
            n_green, n_red = self._history.pop()
            del self.green[n_green:], self.red[n_red:]
        return await self._send()

    async def _send(self) -> SegmentOut:
        self.request_number += 1
        body = SegmentIn(
            unique_filename=self.unique_filename,
            green_dots=list(self.green),
            red_dots=list(self.red),
            request_number=self.request_number,
        )
        return await self.send(body)
