"""What a run leaves behind to be checked later: lineage, environment.yaml, signed statements.

lineage records each stage's image, environment and sources next to dvc.lock; environment
holds the fingerprint file every stage depends on; sources digests the source trees a run
mounts. signing signs run records and rerun verdicts with the project key that keys makes and
trusts; verify checks them offline; quorum counts the signed reruns of a commit by distinct
trusted keys on distinct machines (reading them as reruns' records: internal); all read files
through trees (the workspace, or a git revision: internal).
"""

# The face: the modules other wings may import; the rest are this wing's own.
__all__ = ["environment", "keys", "lineage", "quorum", "signing", "sources", "verify"]
