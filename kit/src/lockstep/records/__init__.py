"""What a run leaves behind to be checked later: lineage, environment.yaml, signed statements.

lineage records each stage's image, environment and sources next to dvc.lock; environment
holds the fingerprint file every stage depends on; sources digests the source trees a run
mounts; attest signs run records and verifies them offline.
"""

# The face: the modules other wings may import; the rest are this wing's own.
__all__ = ["attest", "environment", "lineage", "sources"]
