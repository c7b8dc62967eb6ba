"""The example pipeline's params: one frozen dataclass per stage, named like the stage.

Each dataclass checks its own values; `lockstep.runtime.params.load` checks keys and types.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lockstep.errors import InvalidParamError, ParamsError
from lockstep.runtime import months, params

# Application ids are month * ID_STRIDE + row, so a month holds fewer rows than this.
ID_STRIDE = 10_000_000
MAX_SEED = 2**32 - 1


def _month(key: str, value: str) -> int:
    try:
        return months.index(value)
    except ValueError:
        raise InvalidParamError(key, f"a month as {months.FORMAT}, got {value!r}") from None


def _seed(value: int) -> None:
    # numpy and scikit-learn accept only unsigned 32-bit seeds.
    if not 0 <= value <= MAX_SEED:
        raise InvalidParamError("seed", f"an integer from 0 to {MAX_SEED}, got {value!r}")


def _positive(key: str, value: float) -> None:
    if value <= 0:
        raise InvalidParamError(key, f"a positive number, got {value!r}")


@dataclass(frozen=True)
class Ingest:
    """Simulated warehouse extract: monthly vintages from first_month to as_of."""

    seed: int
    first_month: str
    as_of: str
    rows_per_month: int

    def __post_init__(self) -> None:
        if _month("as_of", self.as_of) < _month("first_month", self.first_month):
            raise InvalidParamError("as_of", f"a month not before first_month {self.first_month}")
        _positive("rows_per_month", self.rows_per_month)
        if self.rows_per_month >= ID_STRIDE:
            raise InvalidParamError("rows_per_month", f"fewer than {ID_STRIDE} rows")
        _seed(self.seed)

    @property
    def months(self) -> list[str]:
        """Every month covered, oldest first."""
        first, last = months.index(self.first_month), months.index(self.as_of)
        return [months.name(i) for i in range(first, last + 1)]


@dataclass(frozen=True)
class Features:
    """Out-of-time split: the latest test_months months are the test set."""

    test_months: int

    def __post_init__(self) -> None:
        _positive("test_months", self.test_months)


@dataclass(frozen=True)
class Train:
    """Gradient-boosted classifier hyperparameters."""

    seed: int
    learning_rate: float
    max_iter: int
    max_leaf_nodes: int
    min_samples_leaf: int
    l2_regularization: float

    def __post_init__(self) -> None:
        _seed(self.seed)
        for key in ("learning_rate", "max_iter", "min_samples_leaf"):
            _positive(key, getattr(self, key))
        if self.max_leaf_nodes < 2:
            raise InvalidParamError("max_leaf_nodes", "an integer of at least 2")
        if self.l2_regularization < 0:
            raise InvalidParamError("l2_regularization", "a number of at least 0")


@dataclass(frozen=True)
class Evaluate:
    """Evaluation: calibration bins and score-distribution bins."""

    calibration_bins: int
    score_bins: int

    def __post_init__(self) -> None:
        for key in ("calibration_bins", "score_bins"):
            if getattr(self, key) < 2:
                raise InvalidParamError(key, "an integer of at least 2")


SECTIONS = {"ingest": Ingest, "features": Features, "train": Train, "evaluate": Evaluate}


def load(path: Path, section: str):
    """Load one stage's params section."""
    return params.load(path, section, SECTIONS[section])


def check(path: Path) -> None:
    """Validate every section, and what sections must agree on, before any stage starts."""
    loaded = {section: load(path, section) for section in SECTIONS}
    ingest, features = loaded["ingest"], loaded["features"]
    if features.test_months >= len(ingest.months):
        raise ParamsError(
            f"{path}: features.test_months: {features.test_months} months held out, but the "
            f"extract has {len(ingest.months)} ({ingest.first_month} to {ingest.as_of})",
            "hold out fewer months than the extract has, so that some are left to train on",
        )
