"""The images: the offline Debian base, the project's image, and where images are kept.

base (the ladder), manifest, debs and rootfs make the Debian base; oci writes image archives;
builder builds docker/Dockerfile's targets; registry and store keep images in a registry or the
DVC remote.
"""

# The face: the modules other wings may import; the rest are this wing's own.
__all__ = [
    "builder",
    "challenge",
    "debs",
    "layers",
    "manifest",
    "prefetch",
    "rebuild",
    "recorded",
    "registry",
    "reproducible",
    "sbom",
    "store",
    "variations",
]
