"""Running stages in the image: `repro`, experiments, sweeps, the devcontainer.

pipeline runs DVC in the project's image and records lineage; containers says how a stage's
container runs (as the caller, no network by choice of a revision); executor sends runs to
this machine or to Slurm (slurm, internal).
"""

# The face: the modules other wings may import; the rest are this wing's own.
__all__ = ["containers", "devcontainer", "executor", "experiments", "pipeline", "sweep"]
