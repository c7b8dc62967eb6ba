"""Reading Markdown as the docs' tests need it: code blocks, code spans, links and anchors."""

from __future__ import annotations

import re

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+?)\s*#*$", re.M)
EXPLICIT_ANCHOR = re.compile(r"<a id=\"([^\"]+)\"")


def blocks(text: str) -> list[str]:
    """The fenced code blocks, fences and all."""
    return FENCE.findall(text)


def prose(text: str) -> str:
    """The text outside fenced code blocks (each block left as one empty line)."""
    return FENCE.sub("\n", text)


def spans(text: str) -> list[str]:
    """The inline code spans of the prose, a span wrapped over lines read as one line."""
    return [" ".join(m.group(2).split()) for m in CODE_SPAN.finditer(prose(text))]


def code_lines(text: str) -> list[str]:
    """Every line inside a fenced code block, fences excluded."""
    return [line for block in blocks(text) for line in block.splitlines()[1:-1]]


def table_rows(text: str) -> list[str]:
    return [line for line in prose(text).splitlines() if line.startswith("|")]


def links(text: str) -> list[str]:
    """Relative link and image targets in the prose (code spans aside); URLs are left out."""
    outside = CODE_SPAN.sub("", prose(text))
    return [t for t in LINK.findall(outside) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a page has: its headings' (a repeated one numbered, as GitHub does) and
    explicit `<a id="...">`s."""
    seen: dict[str, int] = {}
    found = set(EXPLICIT_ANCHOR.findall(text))
    for heading in HEADING.findall(prose(text)):
        base = slug(heading)
        found.add(f"{base}-{seen[base]}" if base in seen else base)
        seen[base] = seen.get(base, 0) + 1
    return found


def broken_links(page, root) -> list[str]:
    """The relative links of a page (a Path) that lead to no file, or to no anchor there."""
    broken = []
    for target in links(page.read_text()):
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        where = linked.relative_to(root) if linked.is_relative_to(root) else linked
        if not linked.exists():
            broken.append(f"{target}: no {where}")
        elif anchor and linked.suffix != ".md":
            broken.append(f"{target}: an anchor into a file that is not Markdown")
        elif anchor and anchor not in anchors(linked.read_text()):
            broken.append(f"{target}: {where} has no heading #{anchor}")
    return broken
