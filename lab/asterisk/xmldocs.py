"""Slim Asterisk's XML documentation to what a lab node can load.

Asterisk parses /usr/share/asterisk/documentation/core-en_US.xml at boot and keeps
the whole tree in memory: ~33 MiB of a node's ~54 MiB. It cannot be dropped
(Asterisk 22 exits without it, and the configuration framework refuses options
that have no documentation), but a node loads only `node.MODULES`. This keeps
the core's own entries, the entries of those modules, the core's configuration
types, and whatever they pull in by XInclude; `core show application Dial` still
works in a node, the help of modules a node cannot load is gone. Asterisk 16's
entries carry no module attribute, so there only module and configuration
entries can go.

Run by the image build inside the root filesystem:
    python -m lab.asterisk.xmldocs ROOT MODULE...
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

DOCS = Path("usr/share/asterisk/documentation/core-en_US.xml")
SOURCE = Path(__file__)  # part of the image tag: a change here rebuilds the image
# configuration types of the core (main/*.c), documented under their own name
# ("core" holds Asterisk 16's bucket type)
CORE_CONFIG = frozenset({"cdr", "cel", "core", "features", "named_acl", "stasis", "udptl"})
_XINCLUDE = "http://www.w3.org/2001/XInclude"
_POINTER = re.compile(r"xpointer\(/?docs/(\w+)\[@name='([^']+)'\]")


def _wanted(element: ET.Element, modules: frozenset[str]) -> bool:
    name, module = element.get("name"), element.get("module")
    if element.tag == "configInfo":
        return name in modules or name in CORE_CONFIG
    if element.tag == "module":
        return name in modules
    return module in (None, "builtin") or module in modules


def slim(path: Path, modules: frozenset[str]) -> tuple[int, int]:
    """Rewrite the documentation at `path` in place; (entries before, entries kept)."""
    ET.register_namespace("xi", _XINCLUDE)
    tree = ET.parse(path)
    root = tree.getroot()
    entries = list(root)
    by_key = {(e.tag, e.get("name")): e for e in entries}
    keep = {e for e in entries if _wanted(e, modules)}
    todo = list(keep)
    while todo:  # an XInclude must find what it points at
        for include in todo.pop().iter(f"{{{_XINCLUDE}}}include"):
            match = _POINTER.search(include.get("xpointer", ""))
            target = by_key.get((match[1], match[2])) if match else None
            if target is not None and target not in keep:
                keep.add(target)
                todo.append(target)
    for element in entries:
        if element not in keep:
            root.remove(element)
    tree.write(path, encoding="UTF-8", xml_declaration=True)
    return len(entries), len(keep)


def main(argv: list[str]) -> int:
    root, *modules = argv
    path = Path(root) / DOCS
    if not path.exists():  # an image without XML documentation: nothing to slim
        return 0
    before, kept = slim(path, frozenset(m.removesuffix(".so") for m in modules))
    print(f"XML documentation: kept {kept} of {before} entries", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
