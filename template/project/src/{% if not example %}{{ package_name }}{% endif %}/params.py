"""The pipeline's params: one frozen dataclass per stage, named like the stage.

Each dataclass checks its own values; `lockstep.runtime.params.load` checks keys and types, so a
missing key, an unknown key or a wrong type stops a run with one line naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lockstep.errors import InvalidParamError
from lockstep.runtime import params

MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Prepare:
    """A seeded toy classification problem, split into a training and a test set."""

    seed: int
    samples: int
    features: int
    test_fraction: float

    def __post_init__(self) -> None:
        # numpy and scikit-learn accept only unsigned 32-bit seeds.
        if not 0 <= self.seed <= MAX_SEED:
            raise InvalidParamError("seed", f"an integer from 0 to {MAX_SEED}, got {self.seed!r}")
        if self.samples < 20:
            raise InvalidParamError("samples", f"an integer of at least 20, got {self.samples!r}")
        if self.features < 2:
            raise InvalidParamError("features", f"an integer of at least 2, got {self.features!r}")
        if not 0 < self.test_fraction < 1:
            raise InvalidParamError(
                "test_fraction", f"a number in (0, 1), got {self.test_fraction!r}"
            )


@dataclass(frozen=True)
class Train:
    """Logistic regression: inverse regularisation strength (scikit-learn's C), iterations."""

    regularization: float
    max_iter: int

    def __post_init__(self) -> None:
        if self.regularization <= 0:
            raise InvalidParamError(
                "regularization", f"a positive number, got {self.regularization!r}"
            )
        if self.max_iter < 1:
            raise InvalidParamError("max_iter", f"a positive integer, got {self.max_iter!r}")


@dataclass(frozen=True)
class Evaluate:
    """The probability from which a row is predicted positive."""

    threshold: float

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise InvalidParamError("threshold", f"a number in (0, 1), got {self.threshold!r}")


SECTIONS = {"prepare": Prepare, "train": Train, "evaluate": Evaluate}


def load(path: Path, section: str):
    """Load one stage's params section."""
    return params.load(path, section, SECTIONS[section])


def check(path: Path) -> None:
    """Validate every section, so a bad value stops a run before any stage starts."""
    for section in SECTIONS:
        load(path, section)
