"""Pages people read: self-contained HTML on one skeleton, with charts drawn as inline SVG.

Every page the kit or a project renders shares `templates/base.html.j2` and `templates/page.css`,
and every chart comes from `charts.svg`: the same inputs give the same bytes, and nothing is
fetched when the page is viewed.
"""

# The face: the modules other wings may import; the rest are this wing's own.
__all__ = ["charts", "document"]
