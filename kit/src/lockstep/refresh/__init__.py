"""Scheduled refresh: re-fit the champion on newer data and decide whether to release."""

# The face: the modules other wings may import; the rest are this wing's own.
__all__ = ["cycle", "report"]
