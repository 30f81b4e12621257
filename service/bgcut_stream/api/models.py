"""Pydantic models of every request and response body of BackgroundCut API v3.

The client validates with these before any credit is at risk; the server parses with the same
classes, so the two cannot drift.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

HEX_COLOR_PATTERN = r"^#[0-9a-fA-F]{6}$"
MAX_VARIANTS = 16
DEFAULT_MAX_RESOLUTION = 12_000_000
DEFAULT_OUTPUT_COMPRESSION = 85

OutputFormat = Literal["png", "jpg", "webp"]
Quality = Literal["high", "medium", "low"]


class _Strict(BaseModel):
    """Unknown fields are rejected: a typo in a field name is a 400, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class OutputVariant(_Strict):
    """One output of a process request; every field optional with the reference's default."""

    variant_name: Annotated[
        str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    ] = "default"
    max_resolution: Annotated[StrictInt, Field(gt=0)] = DEFAULT_MAX_RESOLUTION
    format: OutputFormat = "png"
    background_color: Annotated[str, Field(pattern=HEX_COLOR_PATTERN)] | None = None
    quality: Quality = "high"
    output_compression: Annotated[StrictInt, Field(ge=1, le=100)] = DEFAULT_OUTPUT_COMPRESSION
    autocrop: StrictBool = False

    @model_validator(mode="after")
    def _jpg_needs_background(self) -> OutputVariant:
        if self.format == "jpg" and self.background_color is None:
            raise ValueError(
                f"variant '{self.variant_name}': transparent background is not possible with "
                "jpg format; set background_color or use png/webp"
            )
        return self

    @property
    def extension(self) -> str:
        """File extension of this variant's output."""
        return self.format

    @property
    def content_type(self) -> str:
        """MIME type of this variant's output."""
        return {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}[self.format]


class ProcessImageIn(_Strict):
    """Body of ``POST /v3/remove-bg/process-image/`` and its presign twin."""

    unique_filename: Annotated[str, Field(min_length=1, max_length=128)]
    output_variants: (
        Annotated[list[OutputVariant], Field(min_length=1, max_length=MAX_VARIANTS)] | None
    ) = None

    @model_validator(mode="after")
    def _unique_variant_names(self) -> ProcessImageIn:
        names = [v.variant_name for v in self.variants]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"variant_name must be unique within a request: {duplicates}")
        return self

    @property
    def variants(self) -> list[OutputVariant]:
        """The requested variants, or the single all-defaults variant when omitted."""
        return list(self.output_variants) if self.output_variants else [OutputVariant()]


class UploadImageOut(BaseModel):
    """Response of the upload endpoints."""

    unique_filename: str


class ProcessImageOut(BaseModel):
    """Response of the process endpoints."""

    unique_filename: str
    input_url: str
    output_urls: dict[str, str]


class PresignOut(BaseModel):
    """Response of every ``.../presign/`` endpoint."""

    signed_request: str


class SignedRequestIn(_Strict):
    """Body of ``POST /v3/remove-bg/process-image/presigned/``."""

    signed_request: Annotated[str, Field(min_length=1)]


class AiCutInitializeOut(BaseModel):
    """Response of the AI Cut initialize endpoints."""

    unique_filename: str
    s3_path: str
    bucket: str


class Dot(_Strict):
    """A point in image pixels."""

    x: Annotated[StrictInt, Field(ge=0)]
    y: Annotated[StrictInt, Field(ge=0)]


class SegmentIn(_Strict):
    """Body of ``POST /v3/ai-cut/segment/``; dots are the full accumulated set."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    unique_filename: Annotated[str, Field(min_length=1, max_length=128)]
    green_dots: Annotated[list[Dot], Field(alias="greenDots", max_length=1000)] = []
    red_dots: Annotated[list[Dot], Field(alias="redDots", max_length=1000)] = []
    request_number: Annotated[StrictInt, Field(ge=0)] = 0


class SegmentOut(BaseModel):
    """Response of ``POST /v3/ai-cut/segment/``."""

    status: str
    unique_filename: str
    request_number: int
    output_url: str
    message: str
    timestamp: float


class ErrorOut(BaseModel):
    """The error envelope of every non-2xx response."""

    detail: str
