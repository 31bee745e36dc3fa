"""Stage 3, lint: static checks of the Asterisk configs a lab mounts, before anything starts.

Takes rendered files (or a folder of them, or members' own); gives `Finding`s with file, line,
severity, code (`RULES`), what is wrong and how to fix it.
"""

from lab.lint.linter import (
    DEFAULT_NUMBER_LENGTH,
    RULES,
    Finding,
    NodeFiles,
    format_findings,
    has_errors,
    lint_dir,
    lint_members,
    lint_nodes,
    lint_rendered,
    lint_topology,
    summary,
)

__all__ = [
    "DEFAULT_NUMBER_LENGTH",
    "RULES",
    "Finding",
    "NodeFiles",
    "format_findings",
    "has_errors",
    "lint_dir",
    "lint_members",
    "lint_nodes",
    "lint_rendered",
    "lint_topology",
    "summary",
]
