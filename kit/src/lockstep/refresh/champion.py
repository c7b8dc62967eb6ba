"""Champions: the released models, git tags `<prefix><N>`, and promoting a challenger."""

from __future__ import annotations

import re
from pathlib import Path

from lockstep import git
from lockstep.errors import RevisionError


def latest(root: Path, prefix: str) -> tuple[str, int]:
    """The newest champion tag and its version number.

    Raises:
        RevisionError: there is no champion yet.
    """
    pattern = re.compile(re.escape(prefix) + r"(\d+)$")
    found = [
        (int(match.group(1)), tag)
        for tag in git.tags(root, f"{prefix}*")
        if (match := pattern.match(tag))
    ]
    if not found:
        raise RevisionError(
            f"no champion yet: no tag {prefix}<N>",
            f"tag the released model's commit: git tag {prefix}1 <commit>",
        )
    version, tag = max(found)
    return tag, version


def promote(tree: Path, tag: str) -> str:
    """Commit the challenger's results in its worktree (on no branch) and tag them."""
    git.commit_all(tree, f"Challenger promoted to {tag}", machine=True)
    git.tag(tree, tag)
    return tag
