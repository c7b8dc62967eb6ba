"""The `lockstep` command: new projects from the template, updates, and adopting DVC projects."""

# The face: the modules other wings may import; the rest are this wing's own.
__all__ = ["cli"]
