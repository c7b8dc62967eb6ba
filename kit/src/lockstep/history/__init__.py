"""Rerunning the past and explaining differences: what model validators use.

replay runs a revision in its recorded image; rerun judges the outputs against the commit's
and gives a verdict (from the metrics it reads, with hints at nondeterminism: metrics and hints
are internal); explain says why two results differ (causes, internal); verdict_page renders a
verdict as a page.
"""

# The face: the modules other wings may import; the rest are this wing's own.
__all__ = ["explain", "replay", "rerun", "verdict", "verdict_page"]
