"""Operator endpoints under /_admin/, on only when an admin token is configured.

Fault injection (``PUT /_admin/faults``), expiring an upload now, and credits.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from bgcut_stream.server.exceptions import NotFound
from bgcut_stream.server.faults import FaultPlan
from bgcut_stream.server.ledger import key_hash
from bgcut_stream.server.routes.common import State
from bgcut_stream.server.state import state_of


def _admin_only(request: Request) -> None:
    if not state_of(request).admin_allowed(request):
        raise NotFound("Not Found")


router = APIRouter(
    prefix="/_admin", tags=["Admin"], dependencies=[Depends(_admin_only)], include_in_schema=False
)


class CreditsIn(BaseModel):
    """A key and an amount to add (0 to just read the balance)."""

    api_key: Annotated[str, Field(min_length=1, max_length=1024)]
    credits: Annotated[float, Field(allow_inf_nan=False, ge=-1e12, le=1e12)] = 0.0


class CreditsOut(BaseModel):
    """A balance."""

    balance: float


@router.get("/faults")
async def get_faults(state: State) -> FaultPlan:
    """The fault plan in force."""
    return state.faults.plan


@router.put("/faults")
async def put_faults(state: State, plan: FaultPlan) -> FaultPlan:
    """Replace the fault plan (an empty body object turns every fault off)."""
    state.faults.configure(plan)
    return plan


@router.post("/uploads/{unique_filename}/expire")
async def expire_upload(state: State, unique_filename: str) -> dict[str, str]:
    """Expire an upload now, as if its TTL had passed."""
    if not state.uploads.expire(unique_filename):
        raise NotFound("unique_filename not found.")
    return {"status": "expired"}


@router.post("/credits")
async def credits(state: State, body: Annotated[CreditsIn, None]) -> CreditsOut:
    """Add credits to a key (creating it) and return the balance."""
    hashed = key_hash(body.api_key)
    if body.credits:
        return CreditsOut(balance=state.ledger.add(hashed, body.credits))
    return CreditsOut(balance=state.ledger.balance(hashed))
