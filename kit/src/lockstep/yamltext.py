"""YAML parsed by libyaml when PyYAML has it, with the pure-Python parser's errors.

libyaml parses dvc.lock in a tenth of the time (about 1.5 ms rather than 13 ms), and every run
reads it several times. Its error messages and line numbers differ from the pure parser's, so a
document it refuses is parsed again by the pure parser: errors read as they always did.
"""

from __future__ import annotations

from typing import Any

import yaml

# PyYAML built without libyaml has no C loaders; the pure ones then serve both purposes.
FAST_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str, loader: type = yaml.SafeLoader, fast: type = FAST_SAFE_LOADER) -> Any:
    """`yaml.load(text, loader)`, parsed by `fast` (the same loader on libyaml's parser)."""
    try:
        return yaml.load(text, Loader=fast)
    except yaml.YAMLError:
        return yaml.load(text, Loader=loader)  # the pure parser's value or its error
