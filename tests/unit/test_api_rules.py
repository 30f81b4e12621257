"""API rules shared by client and server: variant defaults, credit cost, Retry-After, geometry."""

from __future__ import annotations

import email.utils

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bgcut_stream.api.credits import process_cost
from bgcut_stream.api.models import OutputVariant, ProcessImageIn
from bgcut_stream.client.exceptions import parse_retry_after
from bgcut_stream.imaging.render import fit_within, parse_hex, subject_bbox
from bgcut_stream.server.ledger import parse_keys


def test_variant_defaults_are_the_references() -> None:
    """An empty variant has every default of the reference."""
    assert OutputVariant().model_dump() == {
        "variant_name": "default",
        "max_resolution": 12_000_000,
        "format": "png",
        "background_color": None,
        "quality": "high",
        "output_compression": 85,
        "autocrop": False,
    }
    assert ProcessImageIn(unique_filename="u").variants == [OutputVariant()]


@pytest.mark.parametrize(
    ("autocrops", "cost"), [((), 1.0), ((False,), 1.0), ((True,), 1.5), ((True, True, False), 2.0)]
)
def test_process_cost(autocrops: tuple[bool, ...], cost: float) -> None:
    """1 credit per request plus 0.5 per autocrop variant."""
    variants = [OutputVariant(variant_name=f"v{i}", autocrop=a) for i, a in enumerate(autocrops)]
    assert process_cost(variants or [OutputVariant()]) == cost


def test_retry_after_seconds_and_http_date() -> None:
    """Both Retry-After forms are understood; garbage is None."""
    assert parse_retry_after("3") == 3.0
    date = email.utils.formatdate(1_000_010, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@given(st.integers(1, 20_000), st.integers(1, 20_000), st.integers(1, 50_000_000))
def test_fit_within_never_exceeds_and_never_upscales(w: int, h: int, limit: int) -> None:
    """The fitted size is within the pixel budget, no larger than the input, aspect kept."""
    new_w, new_h = fit_within(w, h, limit)
    assert new_w * new_h <= max(limit, 1)
    assert new_w <= w
    assert new_h <= h
    if (new_w, new_h) != (w, h) and min(new_w, new_h) > 20:
        assert abs(new_w / new_h - w / h) / (w / h) < 0.1


def test_subject_bbox() -> None:
    """The box covers exactly the non-zero alpha; an empty mask has none."""
    alpha = np.zeros((10, 20), np.uint8)
    alpha[2:5, 7:9] = 255
    assert subject_bbox(alpha) == (7, 2, 9, 5)
    assert subject_bbox(np.zeros((3, 3), np.uint8)) is None


def test_parse_hex_any_case() -> None:
    """Hex colours parse in either case."""
    assert parse_hex("#1A01ff") == (0x1A, 0x01, 0xFF)


def test_parse_keys() -> None:
    """Keys parse from commas or lines, with comments; a bad entry is an error."""
    assert parse_keys("a:1, b:2.5\n# c:3\nd:0") == {"a": 1.0, "b": 2.5, "d": 0.0}
    with pytest.raises(ValueError, match="expected 'key:credits'"):
        parse_keys("nocolon")
