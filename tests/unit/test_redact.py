"""Every output masks DUNDi's rotating secret and members' IAX2 secrets, and nothing else."""

from __future__ import annotations

import pytest

from lab.redact import redact


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
            "/dundi/secret                                     : B0+CZc1gt1iYCUwJtdw5ew== ",
            "/dundi/secret                                     : <secret> ",
        ),
        (
            "/dundi/secret : B0+CZc1gt1iYCUwJtdw5ew==;X2+tNbaPK3SVvr0MhVhcWA==",
            "/dundi/secret : <secret>",
        ),
        ("Value: B0+CZc1gt1iYCUwJtdw5ew==", "Value: <secret>"),
        (
            "1796011932|5/0/1/dundi:X2+tNbaPK3SVvr0MhVhcWA==@10.77.116.13/555000123/0200",
            "1796011932|5/0/1/dundi:<secret>@10.77.116.13/555000123/0200",
        ),
        ("secret = hunter2 ; the trunk's password", "secret = <secret> ; the trunk's password"),
        ("a lone X2+tNbaPK3SVvr0MhVhcWA== in text", "a lone <secret> in text"),
        (
            "network1 => ctx,0,IAX2,dundi:${SECRET}@10.77.0.13/${NUMBER}",
            "network1 => ctx,0,IAX2,dundi:${SECRET}@10.77.0.13/${NUMBER}",
        ),
        ("dbsecret = dundi/secret", "dbsecret = dundi/secret"),
        (
            "[2026-11-26 12:56:49.588] VERBOSE[437] pbx.c: nothing secret here",
            "[2026-11-26 12:56:49.588] VERBOSE[437] pbx.c: nothing secret here",
        ),
        (
            "02:00:00:00:00:04 10.77.0.13 (S) 4520 Symmetric",
            "02:00:00:00:00:04 10.77.0.13 (S) 4520 Symmetric",
        ),
    ],
    ids=[
        "dial-string",
        "dialed-peer-number",
        "astdb-secret",
        "astdb-secret-after-rotation",
        "database-get-value",
        "dundi-cache-entry",
        "iax-conf-secret",
        "bare-secret",
        "config-placeholder-kept",
        "dbsecret-path-kept",
        "timestamps-kept",
        "peer-line-kept",
    ],
)
def test_redact_masks_secrets_and_nothing_else(text: str, masked: str) -> None:
    assert redact(text) == masked
