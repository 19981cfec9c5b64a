"""What changed between two runs: observers one has and the other lacks, and why.

Values are matched by module path, method and the user's value name, so two runs of the
same model under different qconfigs line up however their class types were cloned.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from .errors import ObsvizError
from .refs import value_label

if TYPE_CHECKING:
    from .explain import Explanation
    from .run_view import RunView

MatchKey = tuple[str, str, str]  # (module path, method, value name)


@dataclass(frozen=True)
class DiffEntry:
    """One observer present in one run only, or of a different class in each."""

    module_path: str
    method: str
    value: str
    change: str  # "removed" (only in this run), "added" (only in the other), "changed"
    this: Explanation | None
    other: Explanation | None

    def __str__(self) -> str:
        head = f"{self.change:8s} {value_label(self.module_path, self.method, self.value)}"
        lines = [head]
        for label, e in (("this run", self.this), ("other run", self.other)):
            text = (
                f"{'observed' if e.observed else 'not observed'} [{e.reason}]: {e.verdict}"
                if e
                else "the value does not exist there"
            )
            lines.append(f"    {label:9s} {text}")
        return "\n".join(lines)


class RunDiff:
    """The observers of two runs compared; iterate it, or read ``to_frame()``."""

    def __init__(self, entries: list[DiffEntry]) -> None:
        self.entries = entries

    def __iter__(self) -> Iterator[DiffEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> DiffEntry:
        return self.entries[index]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                (
                    e.module_path,
                    e.method,
                    e.value,
                    e.change,
                    e.this.reason if e.this else None,
                    e.other.reason if e.other else None,
                    e.this.observer if e.this else "",
                    e.other.observer if e.other else "",
                )
                for e in self.entries
            ],
            columns=[
                "module_path",
                "method",
                "value",
                "change",
                "reason_this",
                "reason_other",
                "observer_this",
                "observer_other",
            ],
        )

    def __str__(self) -> str:
        if not self.entries:
            return "no difference in observer placement"
        counts = ", ".join(f"{n} {c}" for c, n in self._counts().items())
        return "\n".join(
            [
                f"{len(self.entries)} observer differences ({counts}):",
                *(str(e) for e in self.entries),
            ]
        )

    def __repr__(self) -> str:
        return f"<obsviz RunDiff: {len(self.entries)} differences>"

    def _counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.entries:
            counts[e.change] = counts.get(e.change, 0) + 1
        return counts

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = []
        for e in self.entries:
            cells = [
                esc(e.change),
                f"<code>{esc(value_label(e.module_path, e.method, e.value))}</code>",
            ]
            for x in (e.this, e.other):
                cells.append(
                    f"<code>{esc(x.reason)}</code> {esc(x.verdict)}"
                    if x
                    else "<i>no such value</i>"
                )
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        return (
            "<div><b>obsviz diff</b>: " + esc(str(len(self.entries))) + " differences"
            "<table><tr><th>change</th><th>value</th><th>this run</th><th>other run</th>"
            "</tr>" + "".join(rows) + "</table></div>"
        )


def _observers(view: RunView) -> dict[MatchKey, str]:
    values = view.values()
    observed = values[values["observed"]]
    return {
        (p, m, v): c
        for p, m, v, c in zip(
            observed["module_path"],
            observed["method"],
            observed["value"],
            observed["observer_class"],
            strict=True,
        )
    }


def _explain(view: RunView, key: MatchKey) -> Explanation | None:
    try:
        return view.explain(key[2], module=key[0], method=key[1], names="model")
    except ObsvizError:
        return None


def diff_runs(this: RunView, other: RunView) -> RunDiff:
    """Observers in ``this`` but not ``other`` ("removed"), the reverse ("added"), and
    values observed in both by observers of different classes ("changed")."""
    mine, theirs = _observers(this), _observers(other)
    entries = []
    for key in list(mine) + [k for k in theirs if k not in mine]:
        if key in mine and key in theirs:
            if mine[key] == theirs[key]:
                continue
            change = "changed"
        else:
            change = "removed" if key in mine else "added"
        entries.append(DiffEntry(*key, change, _explain(this, key), _explain(other, key)))
    return RunDiff(entries)
