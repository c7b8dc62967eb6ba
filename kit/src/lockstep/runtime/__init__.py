"""What pipeline stages import inside the image: the stage shim, params, months, fingerprint.

Standard library only, plus PyYAML for params: it runs in the runtime image, which holds the
pipeline's own libraries and nothing of the kit's host tools.
"""

# The face: the modules other wings may import; the rest are this wing's own.
__all__ = ["fingerprint", "machine", "months", "params", "stage"]
