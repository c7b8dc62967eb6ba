"""Render an HTML page from a Jinja2 template that extends the kit's skeleton.

Autoescaping is on: every value a page shows is escaped, and only what is marked safe (the
charts' SVG) goes in as markup. An undefined name is an error, not an empty string.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

SKELETON = Path(__file__).resolve().parent / "templates"


def render(folder: Path, template: str, **context: Any) -> str:
    """Render `template` from `folder`; `base.html.j2` and `page.css` come from the kit."""
    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(folder), jinja2.FileSystemLoader(SKELETON)]
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return environment.get_template(template).render(**context)
