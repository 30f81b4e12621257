"""Point-based interactive segmentation: GrabCut seeded with dots and a saliency prior.

Green dots select objects, red dots exclude them: after GrabCut, foreground regions that hold
no green dot are dropped when any green dot exists, and regions touching a red dot are dropped
unless they also hold a green dot. Work happens on a copy whose long side is at most
``WORK_SIDE``; the resulting mask is scaled back to full resolution with smoothed edges. A
session keeps the small copy and the prior, so a refinement call with one more dot costs only
the GrabCut iterations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from bgcut_stream.imaging.decode import Pixels

WORK_SIDE = 384
ITERATIONS = 4
PRIOR_THRESHOLD = 128


@dataclass(frozen=True)
class Point:
    """A dot in full-resolution image pixels."""

    x: int
    y: int


class CutSession:
    """State of one AI Cut session: the work-size image and the saliency prior."""

    def __init__(self, rgb: Pixels, prior: Pixels) -> None:
        height, width = rgb.shape[:2]
        self.full_size = (width, height)
        self.scale = min(1.0, WORK_SIDE / max(width, height))
        size = (max(1, round(width * self.scale)), max(1, round(height * self.scale)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        self.small_bgr: Pixels = np.asarray(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), np.uint8)
        self.small_prior: Pixels = np.asarray(
            cv2.resize(prior, size, interpolation=cv2.INTER_AREA), np.uint8
        )
        self.radius = max(2, round(max(size) / 80))

    def _seed(self, green: Sequence[Point], red: Sequence[Point]) -> Pixels:
        mask = np.where(self.small_prior >= PRIOR_THRESHOLD, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
        mask = mask.astype(np.uint8)
        for points, label in ((green, cv2.GC_FGD), (red, cv2.GC_BGD)):
            for p in points:
                centre = (round(p.x * self.scale), round(p.y * self.scale))
                cv2.circle(mask, centre, self.radius, int(label), thickness=-1)
        return mask

    def _labels_at(
        self, labels: npt.NDArray[np.int32], points: Sequence[Point], reach: int
    ) -> set[int]:
        """Region labels within ``reach`` work pixels of each point (0 = background)."""
        found: set[int] = set()
        height, width = labels.shape
        for p in points:
            x, y = round(p.x * self.scale), round(p.y * self.scale)
            window = labels[
                max(0, y - reach) : min(height, y + reach + 1),
                max(0, x - reach) : min(width, x + reach + 1),
            ]
            found.update(int(v) for v in np.unique(window) if v)
        return found

    def _select_regions(self, fg: Pixels, green: Sequence[Point], red: Sequence[Point]) -> Pixels:
        count, found = cv2.connectedComponents(fg, connectivity=8)
        labels = np.asarray(found, np.int32)
        if count <= 1:
            return fg
        chosen = self._labels_at(labels, green, 1)
        excluded = self._labels_at(labels, red, self.radius + 2) - chosen
        keep = chosen if green else set(range(1, count)) - excluded
        return np.where(np.isin(labels, sorted(keep)), 255, 0).astype(np.uint8)

    def segment(self, green: Sequence[Point], red: Sequence[Point]) -> Pixels:
        """Full-resolution 8-bit mask for the accumulated dots."""
        if not green and not red:
            small = np.where(self.small_prior >= PRIOR_THRESHOLD, 255, 0).astype(np.uint8)
        else:
            mask = self._seed(green, red)
            has_fg = bool(np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).any())
            has_bg = bool(np.isin(mask, (cv2.GC_BGD, cv2.GC_PR_BGD)).any())
            if has_fg and has_bg:
                bgd = np.zeros((1, 65), np.float64)
                fgd = np.zeros((1, 65), np.float64)
                cv2.grabCut(
                    self.small_bgr, mask, (0, 0, 0, 0), bgd, fgd, ITERATIONS, cv2.GC_INIT_WITH_MASK
                )
            small = np.where(np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)), 255, 0).astype(np.uint8)
            small = self._select_regions(small, green, red)
        small = np.asarray(cv2.GaussianBlur(small, (3, 3), 0), np.uint8)
        full = cv2.resize(small, self.full_size, interpolation=cv2.INTER_LINEAR)
        return np.asarray(full, dtype=np.uint8)
