"""What a refresh found: the two models, the comparison, the decision; report.json's content.

`Refresh.to_dict()` is report.json: schema-versioned, as the lineage record is, and flat where
people read it (the comparison's numbers at the top level, beside the decision).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lockstep.refresh.decision import Comparison

SCHEMA = 1


@dataclass(frozen=True)
class Model:
    """The champion or the challenger, as the report names it; unset fields are the other's."""

    as_of: str  # the newest month of data it was fitted on
    tag: str | None = None  # the champion's release tag
    commit: str | None = None  # the champion's commit
    experiment: str | None = None  # the challenger's DVC experiment
    image_id: str | None = None  # once it was fitted or scored in that image

    def to_dict(self, param: str, metrics: dict[str, float] | None) -> dict[str, Any]:
        """As report.json holds it: the month under the window's param, the metrics if scored."""
        named = {"tag": self.tag, "commit": self.commit, "experiment": self.experiment}
        named |= {"image_id": self.image_id, "metrics": metrics}
        return {param: self.as_of, **{k: v for k, v in named.items() if v is not None}}


@dataclass(frozen=True)
class Refresh:
    """A refresh: the champion, the challenger, how they compared, and what it recommends."""

    param: str  # the params.yaml key that moves the data window (`ingest.as_of`)
    champion: Model
    challenger: Model
    decision: str  # decision.RECOMMENDED or decision.NO_ACTION
    reason: str
    exit_code: int  # what `./inv refresh` exits with (report.RELEASE_CODE, NO_ACTION_CODE)
    # The months both models were scored on, and how; none when there was no new data.
    holdout_months: tuple[str, ...] = ()
    comparison: Comparison | None = None
    promoted: str | None = None  # the challenger's new champion tag, with --promote

    def to_dict(self) -> dict[str, Any]:
        """report.json's content (without the comparison's resampled gains)."""
        compared = self.comparison
        data: dict[str, Any] = {
            "schema": SCHEMA,
            "champion": self.champion.to_dict(
                self.param, compared.champion_metrics if compared else None
            ),
            "challenger": self.challenger.to_dict(
                self.param, compared.challenger_metrics if compared else None
            ),
            "decision": self.decision,
            "reason": self.reason,
            "exit_code": self.exit_code,
        }
        if compared:
            data["window"] = {
                "holdout_months": list(self.holdout_months),
                "rows": compared.rows,
                "events": compared.events,
            }
            data |= {
                "primary_metric": compared.primary_metric,
                "gain": compared.gain,
                "interval": list(compared.interval),
                "confidence": compared.confidence,
                "min_gain": compared.min_gain,
                "resamples": compared.resamples,
                "seed": compared.seed,
            }
        if self.promoted:
            data["promoted"] = self.promoted
        return data
