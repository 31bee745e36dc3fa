"""Masking secrets in whatever dundi-lab shows or writes: logs, CLI output, configs, bundles.

DUNDi rotates a secret every hour (AstDB `dundi/secret`, 16 random bytes in base64, "old;new"
after a rotation); every answer carries it in its dial string (`IAX2/dundi:<secret>@host/num`)
and the callee's IAX2 user checks it. Members' iax.conf files may hold `secret = …` too.
Every output path runs text through `redact`, unless the user asks for raw output.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "redact"]

MASK = "<secret>"

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # user:secret@host, with or without IAX2/ in front (DIALEDPEERNUMBER drops it);
    # a config's literal ${SECRET} stays as written
    (re.compile(r"((?:IAX2/)?[\w-]+:)(?!\$\{)[^@\s\"',;]+(?:;[^@\s\"',]+)?@"), rf"\1{MASK}@"),
    # AstDB as `database show` prints it: /dundi/secret   : value
    (re.compile(r"(/dundi/secret\s*:\s*)\S+"), rf"\1{MASK}"),
    # `database get dundi secret` prints the bare value after the command
    (re.compile(r"^(Value:\s*)(\S+==(?:;\S+==)?)\s*$", re.MULTILINE), rf"\1{MASK}"),
    # iax.conf / sip.conf: secret = value (not dbsecret, which names where the secret lives)
    (
        re.compile(r"^(\s*secret\s*=>?\s*)([^;\s][^;]*?)(\s*(?:;.*)?)$", re.MULTILINE),
        rf"\1{MASK}\3",
    ),
    # anything else shaped like DUNDi's secret: 16 bytes of base64
    (re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{22}==(?![A-Za-z0-9+/=])"), MASK),
)


def redact(text: str) -> str:
    """`text` with every secret replaced by `<secret>`; nothing else changes."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text
