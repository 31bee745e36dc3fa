"""Bundles mask DUNDi's rotating secret wherever a dial string shows it."""

from __future__ import annotations

import pytest

from lab.bundle import redact


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "Called IAX2/dundi:cif6Vu4Qe3B4kaEVorzSHg==@10.77.0.13/555000123",
            "Called IAX2/dundi:<secret>@10.77.0.13/555000123",
        ),
        (
            'Set("DB(labcall/1/dialed)=dundi:ab+/cd==@10.77.0.13/555000123")',
            'Set("DB(labcall/1/dialed)=dundi:<secret>@10.77.0.13/555000123")',
        ),
        (
            "network1 => ctx,0,IAX2,dundi:${SECRET}@10.77.0.13/${NUMBER}",
            "network1 => ctx,0,IAX2,dundi:${SECRET}@10.77.0.13/${NUMBER}",
        ),
        (
            "[2026-11-26 12:56:49.588] VERBOSE[437] pbx.c: nothing secret here",
            "[2026-11-26 12:56:49.588] VERBOSE[437] pbx.c: nothing secret here",
        ),
    ],
    ids=["dial-string", "dialed-peer-number", "config-placeholder-kept", "timestamps-kept"],
)
def test_redact_masks_secrets_and_nothing_else(text: str, masked: str) -> None:
    assert redact(text) == masked
