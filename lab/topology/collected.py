"""A member's archive made by `scripts/dundi-collect`, read as a member folder.

    alpha.tar.gz              the member's name is the file's name (rename the file to rename it)
      <folder>/dundi.conf …   its configs and every file they include, secrets masked
      <folder>/keys/*.pub     the public keys its inkey/outkey lines name
      <folder>/observed/…     what its server showed when collected (never taken as config)

The archive is read in memory, never unpacked where it lies: every entry must be a regular
file (or a folder) under one top folder, with a relative name without `..`, within size
limits; anything else is refused with the archive's name and the entry's. The lab writes the
member's files into its own build folder, like any member's.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lab.errors import Problem

__all__ = [
    "ARCHIVE_SUFFIX",
    "KEYS",
    "LIMITS",
    "OBSERVED",
    "Collected",
    "Limits",
    "archive_member",
    "is_archive",
    "read_collected",
]

ARCHIVE_SUFFIX = ".tar.gz"
OBSERVED = "observed"
KEYS = "keys"


@dataclass(frozen=True)
class Limits:
    """How much an archive may hold (a collector's archive is a few hundred KiB)."""

    compressed: int = 16 * 1024 * 1024
    unpacked: int = 64 * 1024 * 1024
    entries: int = 2000
    entry: int = 8 * 1024 * 1024


LIMITS = Limits()


@dataclass(frozen=True)
class Collected:
    """One member's archive: its configs, public keys and observed state, as text."""

    name: str  # the member's name (the archive's file name)
    path: Path
    configs: tuple[tuple[str, str], ...]  # file name in the member folder → text
    keys: tuple[tuple[str, str], ...]  # NAME.pub → text
    observed: tuple[tuple[str, str], ...]  # observed/ file name → text


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.endswith(ARCHIVE_SUFFIX)


def archive_member(path: Path) -> str:
    """The member an archive holds: its file name without .tar.gz."""
    return path.name[: -len(ARCHIVE_SUFFIX)]


def read_collected(path: Path, limits: Limits = LIMITS) -> tuple[Collected | None, list[Problem]]:
    """The archive's member, or None and every reason it cannot be taken."""
    problems: list[Problem] = []

    def refuse(message: str) -> tuple[None, list[Problem]]:
        problems.append(Problem(str(path), None, "", message))
        return None, problems

    try:
        if path.stat().st_size > limits.compressed:
            return refuse(f"larger than {limits.compressed} bytes for an archive of dundi-collect")
        with gzip.open(path, "rb") as packed:
            data = packed.read(limits.unpacked + 1)
    except (OSError, EOFError, zlib.error) as exc:
        return refuse(f"cannot read it as a .tar.gz: {exc}")
    if len(data) > limits.unpacked:
        return refuse(f"unpacks to more than {limits.unpacked} bytes")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            entries = archive.getmembers()
            if len(entries) > limits.entries:
                return refuse(f"more than {limits.entries} entries")
            files = _files(archive, entries, limits, refuse_entry=problems, where=path)
    except tarfile.TarError as exc:
        return refuse(f"not a tar archive: {exc}")
    if problems:
        return None, problems
    tops = {name.parts[0] for name in files}
    if len(tops) != 1:
        found = ", ".join(sorted(tops)) or "nothing"
        return refuse(f"holds {found}: an archive of dundi-collect holds one member folder")
    configs, keys, observed = [], [], []
    for name, text in sorted(files.items()):
        inside = PurePosixPath(*name.parts[1:])
        if inside.parts[0] == OBSERVED and len(inside.parts) > 1:
            observed.append((str(PurePosixPath(*inside.parts[1:])), text))
        elif inside.parts[0] == KEYS and len(inside.parts) > 1:
            if inside.suffix == ".pub" and len(inside.parts) == 2:
                keys.append((inside.name, text))
        else:
            configs.append((str(inside), text))
    if not any(name == "dundi.conf" for name, _ in configs):
        return refuse("no dundi.conf in its member folder: not an archive dundi-collect made")
    return Collected(
        archive_member(path), path, tuple(configs), tuple(keys), tuple(observed)
    ), problems


def _files(
    archive: tarfile.TarFile,
    entries: list[tarfile.TarInfo],
    limits: Limits,
    *,
    refuse_entry: list[Problem],
    where: Path,
) -> dict[PurePosixPath, str]:
    """Every regular file's text by its name; a Problem for every entry that is not safe."""
    files: dict[PurePosixPath, str] = {}
    for entry in entries:
        why = _unsafe(entry, limits)
        if why:
            refuse_entry.append(Problem(str(where), None, "", f"entry {entry.name!r}: {why}"))
            continue
        if entry.isdir():
            continue
        handle = archive.extractfile(entry)
        assert handle is not None  # a regular file
        text = handle.read().decode("utf-8", "surrogateescape")
        if "PRIVATE KEY-----" in text:
            why = "holds private key material: refused (dundi-collect never reads a private key)"
            refuse_entry.append(Problem(str(where), None, "", f"entry {entry.name!r}: {why}"))
            continue
        files[PurePosixPath(entry.name)] = text
    return files


def _unsafe(entry: tarfile.TarInfo, limits: Limits) -> str:
    """Why an entry must not be taken ("" when it may)."""
    name = entry.name
    parts = PurePosixPath(name).parts
    if not name or name.startswith("/") or "\\" in name or "\0" in name:
        return "not a relative name"
    if ".." in parts or not parts:
        return "a name with '..' in it"
    if not (entry.isfile() or entry.isdir()):
        return "not a regular file (links, devices and pipes are refused)"
    if entry.isfile() and PurePosixPath(name).suffix.lower() == ".key":
        return "a private key file (*.key): refused"
    if entry.size > limits.entry:
        return f"larger than {limits.entry} bytes"
    return ""
