"""CPU work of the server: masks (cached per upload and quality), variants, AI Cut sessions.

Work runs on a small thread pool (onnxruntime and OpenCV release the GIL). Admission control
answers 503 (with Retry-After) when the queue is full or when the pixels being decoded at once
would pass the decode budget; uploads are admitted the same way before their image is decoded.
Queue slots and pixels are given back when the work really ends, not when a caller stops waiting,
so a request that outlives the timeout (504) keeps counting until its thread is done.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from bgcut_stream.api.models import OutputVariant
from bgcut_stream.imaging.decode import DecodedImage, decode
from bgcut_stream.imaging.interactive import CutSession, Point
from bgcut_stream.imaging.render import combined_alpha, render
from bgcut_stream.imaging.saliency import Quality, SaliencyModel
from bgcut_stream.server.exceptions import GatewayTimeout, ServiceUnavailable
from bgcut_stream.server.storage import Upload

T = TypeVar("T")
MASK_CACHE_SIZE = 32
SESSION_CACHE_SIZE = 8
AI_CUT_KIND = "ai-cut"
REFINED_MASK = "mask-refined.png"
REFINED_NUMBERS_SIZE = 4096


@dataclass(frozen=True)
class StoredOutput:
    """One written output file."""

    name: str
    path: Path
    width: int
    height: int


class _Lru(OrderedDict[str, T]):
    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def remember(self, key: str, value: T) -> T:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)
        return value


class Engine:
    """Runs inference and rendering with bounded concurrency."""

    def __init__(
        self,
        model: SaliencyModel,
        *,
        workers: int,
        max_queue: int,
        timeout_s: float,
        max_pixels: int,
        pixel_budget: int | None = None,
        retry_after_s: int = 1,
        on_inference: Callable[[], object] = lambda: None,
    ) -> None:
        self.model = model
        self.max_pixels = max_pixels
        # One image of the largest accepted size must always fit.
        self.pixel_budget = max(pixel_budget or max_pixels, max_pixels)
        self.retry_after_s = retry_after_s
        self.timeout_s = timeout_s
        self._pixels = 0
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bgcut-work")
        self._render_pool = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 2, thread_name_prefix="bgcut-render"
        )
        self._capacity = workers + max_queue
        self._pending = 0
        self._masks: _Lru[np.ndarray] = _Lru(MASK_CACHE_SIZE)
        self._sessions: _Lru[CutSession] = _Lru(SESSION_CACHE_SIZE)
        self._refined_numbers: _Lru[int] = _Lru(REFINED_NUMBERS_SIZE)
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._on_inference = on_inference

    @property
    def pixels_in_use(self) -> int:
        """Pixels of the decodes admitted and not finished yet."""
        return self._pixels

    def _admit(self, pixels: int) -> None:
        with self._lock:
            if self._pending >= self._capacity:
                raise ServiceUnavailable(
                    "Server is temporarily overloaded. Retry after a short delay.",
                    self.retry_after_s,
                )
            if self._pixels + pixels > self.pixel_budget:
                raise ServiceUnavailable(
                    "Server is decoding too many pixels at once. Retry after a short delay.",
                    self.retry_after_s,
                )
            self._pending += 1
            self._pixels += pixels

    def _finished(self, pixels: int) -> None:
        with self._lock:
            self._pending -= 1
            self._pixels -= pixels

    async def _submit(
        self,
        pool: ThreadPoolExecutor,
        pixels: int,
        timeout_s: float | None,
        fn: Callable[..., T],
        *args: object,
    ) -> T:
        self._admit(pixels)
        try:
            work: Future[T] = pool.submit(fn, *args)
        except BaseException:
            self._finished(pixels)
            raise
        work.add_done_callback(lambda _: self._finished(pixels))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(work), timeout=timeout_s)
        except TimeoutError as exc:
            raise GatewayTimeout(
                f"Processing took too long (over {self.timeout_s:.0f} s). Try reducing "
                'max_resolution or using "quality": "medium".'
            ) from exc

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` on the pool: 503 when full, 504 past the timeout.

        Work on an ``Upload`` argument reserves that image's pixels in the decode budget.
        """
        pixels = sum(a.width * a.height for a in args if isinstance(a, Upload))
        return await self._submit(self._executor, pixels, self.timeout_s, fn, *args)

    async def run_decode(self, pixels: int, fn: Callable[..., T], *args: object) -> T:
        """Run a decode of ``pixels`` pixels (an upload's check) under the same admission.

        No processing timeout: the decode is bounded by the pixel limit, and the client is
        waiting for an upload answer, not for processing.
        """
        return await self._submit(self._render_pool, pixels, None, fn, *args)

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def mask(self, upload: Upload, image: DecodedImage, quality: Quality) -> np.ndarray:
        """The saliency mask of an upload at a quality: memory, then disk, then the model."""
        key = f"{upload.unique_filename}:{quality}"
        with self._key_lock(key):
            with self._lock:
                cached = self._masks.get(key)
            if cached is not None:
                return cached
            path = upload.folder / f"mask-{quality}.png"
            stored = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if path.exists() else None
            if stored is not None and stored.shape == image.rgb.shape[:2]:
                mask = stored
            else:
                mask = self.model.predict(image.rgb, quality)
                self._on_inference()
                cv2.imwrite(str(path), mask, [cv2.IMWRITE_PNG_COMPRESSION, 1])
            with self._lock:
                return self._masks.remember(key, mask)

    def process(
        self, upload: Upload, variants: list[OutputVariant], folder: Path
    ) -> list[StoredOutput]:
        """Decode once, one mask per distinct quality, then render and write every variant.

        An AI Cut session (our extension of process-image) is cut with its refined mask: the
        mask of its newest segment call, whatever the variants' quality.
        """
        image = decode(upload.input_path.read_bytes(), self.max_pixels)
        alphas = {
            q: combined_alpha(
                image,
                self.refined_mask(upload, image)
                if upload.kind == AI_CUT_KIND
                else self.mask(upload, image, q),
            )
            for q in dict.fromkeys(v.quality for v in variants)
        }

        def one(variant: OutputVariant) -> StoredOutput:
            rendered = render(image, alphas[variant.quality], variant)
            path = folder / f"{variant.variant_name}.{variant.extension}"
            path.write_bytes(rendered.data)
            return StoredOutput(variant.variant_name, path, rendered.width, rendered.height)

        # Encoders release the GIL: variants of one request render side by side.
        return list(self._render_pool.map(one, variants))

    def _session(self, upload: Upload, image: DecodedImage) -> CutSession:
        """The cached CutSession of an AI Cut upload (call with the session's key lock held)."""
        with self._lock:
            session = self._sessions.get(upload.unique_filename)
        if session is None:
            prior = self.mask(upload, image, "medium")
            session = CutSession(image.rgb, prior)
            with self._lock:
                self._sessions.remember(upload.unique_filename, session)
        return session

    def _remember_refined(self, upload: Upload, mask: np.ndarray, number: int | None) -> None:
        """Keep the newest segment mask on disk; an older request_number finishing late loses."""
        with self._lock:
            newest = self._refined_numbers.get(upload.unique_filename)
            if number is not None and newest is not None and number < newest:
                return
            if number is not None:
                self._refined_numbers.remember(upload.unique_filename, number)
        part = upload.folder / f"{REFINED_MASK}.part.png"
        cv2.imwrite(str(part), mask, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        part.replace(upload.folder / REFINED_MASK)

    def refined_mask(self, upload: Upload, image: DecodedImage) -> np.ndarray:
        """An AI Cut session's newest segment mask; before any segment call, the automatic one."""
        path = upload.folder / REFINED_MASK
        with self._key_lock(f"session:{upload.unique_filename}"):
            stored = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if path.exists() else None
            if stored is not None and stored.shape == image.rgb.shape[:2]:
                return stored
            return self._session(upload, image).segment([], [])

    def segment(
        self,
        upload: Upload,
        green: list[Point],
        red: list[Point],
        path: Path,
        request_number: int | None = None,
    ) -> None:
        """Segment an AI Cut session's image from dots and write the RGBA cutout PNG.

        The mask is also kept as the session's refined mask (see ``refined_mask``): the newest
        ``request_number`` wins, or the last call to finish when no number is given.
        """
        image = decode(upload.input_path.read_bytes(), self.max_pixels)
        with self._key_lock(f"session:{upload.unique_filename}"):
            mask = self._session(upload, image).segment(green, red)
            self._remember_refined(upload, mask, request_number)
        rendered = render(image, combined_alpha(image, mask), OutputVariant(variant_name="segment"))
        path.write_bytes(rendered.data)

    def shutdown(self) -> None:
        """Stop the worker threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._render_pool.shutdown(wait=False, cancel_futures=True)
