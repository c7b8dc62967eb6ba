"""Sharing results: the DVC remote carries outputs, image archives and the base's `.deb` files.

remote publishes and pulls them, and fetches a past revision's inputs for a replay; reruns
sends and collects signed rerun statements, beside them in the remote.
"""

# The face: the modules other wings may import; the rest are this wing's own.
__all__ = ["remote", "reruns"]
