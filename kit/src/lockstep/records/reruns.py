"""A signed rerun statement as a quorum reads it, and the quorum: what it found, its table.

`lockstep.records.quorum` judges the statements; these records say what each one holds (who,
which machine, which verdict) and how the quorum reads: a row per statement, then its count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lockstep import paths
from lockstep.errors import AttestationError
from lockstep.records.signing import RERUNS


@dataclass(frozen=True)
class Statement:
    """A signed rerun statement for the commit whose signature verified."""

    file: str  # where it was found, relative to the project
    keyid: str
    who: str  # the key's holder as trust.toml names it, else the user who reran
    predicate: dict[str, Any]
    document: dict[str, Any]
    author: bool = False  # signed by the key of the author's run record: shown, not counted

    @property
    def machine(self) -> dict[str, Any]:
        """The machine it was made on: host, engine ID, the probe's facts."""
        return self.predicate.get("machine") or {}

    def identity(self) -> str:
        """What makes it another machine: the host, the engine's ID and the CPU.

        Not the probe's other facts: thread counts and variables are the caller's to set, and
        one machine run with another OMP_NUM_THREADS is still one machine.
        """
        cpu = (self.machine.get("facts") or {}).get("cpu")
        return json.dumps([self.machine.get("host"), self.machine.get("engine"), cpu])

    def where(self) -> str:
        """The machine, short: host, engine ID, CPU model."""
        cpu = (self.machine.get("facts") or {}).get("cpu") or {}
        engine = self.machine.get("engine", "")[:14] or "?"
        return f"{self.machine.get('host', '?')}, engine {engine}, {cpu.get('model') or '?'}"

    def verdict(self) -> str:
        """`identical`, or identical `within tolerance T`, or the verdict's own word."""
        tolerance = self.predicate.get("tolerance")
        word = self.predicate.get("verdict", "?")
        return f"within tolerance {tolerance:g}" if word == "identical" and tolerance else word

    def compared(self) -> list[list[str]]:
        """The outputs and metrics this rerun compared."""
        return [sorted(self.predicate.get(kind) or {}) for kind in ("outputs", "metrics")]


@dataclass(frozen=True)
class Quorum:
    """What `check` found: the statements (the author's among them), and how many are needed."""

    commit: str
    needed: int
    statements: list[Statement] = field(default_factory=list)

    def counted(self) -> list[Statement]:
        """The statements that count toward the quorum: all but the author's."""
        return [statement for statement in self.statements if not statement.author]

    def reached(self, rev: str) -> None:
        """Raise unless enough statements count.

        Raises:
            AttestationError: fewer than `needed` (exit 2: statements are missing).
        """
        if len(self.counted()) < self.needed:
            short = self.commit[:12]
            places = f"{paths.RERUNS_COLLECTED}/{short}…/ and {RERUNS}/{short}….json"
            raise AttestationError(
                f"{len(self.counted())} of {self.needed} needed: signed reruns of commit "
                f"{self.commit[:12]} in {places} by distinct trusted keys other than the author's",
                f"bring the validators' statements with `invoke pull {rev}`, or ask for more "
                "reruns",
            )

    def table(self) -> str:
        """Who reran, where, when, with which verdict; then the quorum's line."""
        rows = [("key", "who", "where", "when", "verdict")]
        for s in self.statements:
            mark = " (the author's key: not counted)" if s.author else ""
            at = s.predicate.get("timeVerified", "")
            rows.append((s.keyid[:12], s.who, s.where(), at, s.verdict() + mark))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(f"{c:{w}}" for c, w in zip(row, [*widths, 0], strict=True)) for row in rows
        ]
        counted = self.counted()
        keys = ", ".join(s.keyid[:12] for s in counted)
        lines.append(
            f"quorum: {len(counted)} of {self.needed} needed: keys {keys} reproduced commit "
            f"{self.commit[:12]}, each on a machine of its own"
        )
        return "\n".join(line.rstrip() for line in lines)
