"""The one error hierarchy: every failure a user can act on is a LockstepError.

Each error carries a one-line cause and a hint saying what to do; the CLI and the invoke tasks
print both and exit non-zero without a traceback.
"""

from __future__ import annotations


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none): for one-liners."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class LockstepError(Exception):
    """Root of every error the kit raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "", *, log: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.log = log

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class DiskFullError(LockstepError):
    """A disk filled up while the kit wrote to it; what it wrote was set aside, not kept."""


class ConfigError(LockstepError):
    """A settings or params file is malformed or holds an impossible value."""


class ParamsError(ConfigError):
    """A params.yaml section does not match the schema its stage expects."""


class InvalidParamError(ValueError):
    """Raised by a params dataclass for an impossible value of one key.

    A ValueError, not a LockstepError: the params loader catches it and raises a ParamsError
    that names the file and the section too.
    """

    def __init__(self, key: str, expected: str) -> None:
        super().__init__(f"{key}: expected {expected}")
        self.key = key
        self.expected = expected


class CommandError(LockstepError):
    """A subprocess the kit started failed."""

    def __init__(self, message: str, hint: str = "", *, log: str = "", returncode: int = 1) -> None:
        super().__init__(message, hint, log=log)
        self.returncode = returncode


class EngineError(LockstepError):
    """The Docker engine or BuildKit is missing or unusable."""


class EngineStoppedError(EngineError):
    """The Docker engine went away while the kit used it: stopped, killed or restarted.

    Not a CommandError, and let through (`except EngineStoppedError: raise`) by the fallbacks
    that try another way after a failed step (the image ladder's next rung, a revision's error
    row): without the engine no other way works, and the task ends with this one line.
    """


class LockfileError(LockstepError):
    """poetry.lock is missing or out of date with pyproject.toml."""


class BuildError(CommandError):
    """An image build failed; `log` holds the build output."""


class NotReproducibleError(BuildError):
    """The image built again (`invoke challenge`) differs from the recorded one.

    Exit code 1: the challenge ran and the image failed it.
    """

    exit_code = 1


class BaseImageError(LockstepError):
    """The base image cannot be made, or would differ from its committed manifest."""


class WorkspaceBusyError(LockstepError):
    """Another run holds the workspace lock."""


class ExperimentError(LockstepError):
    """A DVC experiment cannot run as asked: an unknown subcommand, or one run outside the image."""


class LineageError(LockstepError):
    """The lineage record is missing, unreadable, or from an unknown schema."""


class AttestationError(LockstepError):
    """A run cannot be signed, or its signed record cannot be checked."""


class RecordMismatchError(AttestationError):
    """A signed record was checked and does not hold: it names what differs.

    Exit code 1, as a rerun that differs: the check ran and failed (2 is "could not check").
    """

    exit_code = 1


class ImageNotFoundError(LockstepError):
    """A recorded image could be found neither locally, in a registry, nor in an archive."""


class DamagedCacheError(LockstepError):
    """A file in the DVC cache no longer hashes to its name: damaged on this machine's disk."""


class RegistryError(LockstepError):
    """The registry cannot be reached, or refused an operation."""


class RegistryGoneError(RegistryError):
    """The registry went away in the middle of a push or a pull: run it again once it is back."""


class SlurmError(LockstepError):
    """Slurm cannot be reached or refused a job, or a job ended other than completed."""


class RevisionError(LockstepError):
    """A git revision is unknown, or holds no lineage to rerun."""


class LinkError(LockstepError):
    """A symbolic link leads where a container cannot follow, or out of a revision's tree."""


class TemplateError(LockstepError):
    """A project cannot be made, updated or adopted from the lockstep template."""


class WindowTooSmallError(LockstepError):
    """A refresh's holdout has too few events to compare two models."""
