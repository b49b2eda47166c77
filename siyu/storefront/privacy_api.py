"""The signed-in mall customer's own consent and data (PIPL): what they agreed to on each channel, granting or
withdrawing it themselves (recorded with the text they saw, their address and browser as evidence), and a copy of
everything the brand holds on them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from siyu.core.http import client_ip
from siyu.customers import consent, personal_data
from siyu.org.schemas import ErrorOut
from siyu.org.scope import Scope
from siyu.storefront.api import CUSTOMER, shopper_of

router = Router()
ERRORS: dict[int, type[ErrorOut]] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE_ERRORS: dict[int, type[ErrorOut]] = {**ERRORS, 409: ErrorOut}


class MyConsentIn(Schema):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["wecom", "official_account", "sms", "mini_program"]
    granted: bool
    text: str = Field("", max_length=500, description="the wording shown to the customer (required for a grant)")
    text_version: str = Field("", max_length=32)


class MyConsentOut(Schema):
    channel: str
    granted: bool
    by_default: bool
    recorded_at: datetime | None


@router.get("/consents", auth=CUSTOMER, response={200: list[MyConsentOut], **ERRORS},
            summary="My marketing consent on each channel")
def my_consents(request: HttpRequest) -> Any:
    return consent.states(shopper_of(request).customer_id)


@router.post("/consents", auth=CUSTOMER, response={201: list[MyConsentOut], 200: list[MyConsentOut], **WRITE_ERRORS},
             summary="Grant or withdraw marketing on one channel (Idempotency-Key: a repeat records nothing more)")
def set_my_consent(request: HttpRequest, payload: MyConsentIn) -> Status[Any]:
    shopper = shopper_of(request)
    evidence = {"ip": client_ip(request)[:200], "user_agent": request.headers.get("User-Agent", "")[:200],
                "session": str(shopper.session_id)}
    _row, created = consent.record(
        scope=Scope.hq(shopper.enterprise_id, label="storefront"), customer_id=shopper.customer_id,
        channel=payload.channel, granted=payload.granted, method="storefront", text=payload.text,
        text_version=payload.text_version, evidence=evidence,
        idempotency_key=request.headers.get("Idempotency-Key", "")[:128],
    )
    return Status(201 if created else 200, consent.states(shopper.customer_id))


@router.get("/personal-data", auth=CUSTOMER, response={200: dict[str, Any], **ERRORS},
            summary="A copy of everything the brand holds on me (JSON)")
def my_personal_data(request: HttpRequest) -> Any:
    shopper = shopper_of(request)
    return personal_data.export_own(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id)
