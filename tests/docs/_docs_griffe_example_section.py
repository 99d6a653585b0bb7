"""A griffe extension for the documentation site: torsh's ``Example:`` header is an examples section.

torsh's docstrings use Google style with the singular ``Example:`` header (the docstring rules in
tests/docs/_docs_docstring_rules.py and the team's convention). griffe's Google parser only knows the
plural ``Examples:`` and reads ``Example:`` as an admonition, whose ``>>>`` lines then render as
Markdown text (list outputs such as ``[1, 2]`` even become broken cross-references). This extension
renames the header before parsing, so the site shows the examples as code. Loaded by mkdocs.yml.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSection(griffe.Extension):
    """Rename every ``Example:`` section header of a docstring to ``Examples:``."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite ``obj``'s docstring header once the object tree is built (before any parsing).

        Args:
            obj: the object whose docstring is rewritten.
            **kwargs: griffe's other hook arguments (unused).
        """
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
