"""Finding the observer site of a value the way users name it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ObsvizError
from ..refs import display_path, method_label

if TYPE_CHECKING:
    from .calibration import Calibration
    from .sites import Site


def _bare(name: str) -> str:
    return name[1:] if name.startswith("%") else name


def find_site(cal: Calibration, value: object, module: str = "", method: str | None = None) -> Site:
    candidates = [
        s for s in cal.sites if s.module_path == module and (method is None or s.method == method)
    ]
    if isinstance(value, str):
        name = _bare(value)
        for site in cal.sites:  # an observer path, e.g. "layer1.0._observer_2"
            if site.observer_path == name:
                return site
        # the names of cal.ranges, cal.flags and err.table first, then run.module's
        shown = dict(zip(cal.sites, cal.ranges.value, strict=True))
        found = [s for s in candidates if shown[s] == name] or [
            s for s in candidates if s.value == name
        ]
        if not found and cal.run is not None:
            found = _through_run(cal, value, module, method, candidates)
        if found:
            return found[0]
        known = ", ".join(f"%{s.value}" for s in candidates) or "none"
        where = method_label(module, method or cal.method)
        raise ObsvizError(
            f"{where}: no observer watches a value named {value!r}; the "
            f"observed values there are: {known}"
        )
    unique = getattr(value, "unique", None)
    if callable(unique):  # a torch._C.Value
        unique = unique()
    found = [s for s in candidates if s.unique == unique]
    if found:
        return found[0]
    raise ObsvizError(f"{display_path(module)}: no observer watches {value!r}")


def _through_run(
    cal: Calibration, value: str, module: str, method: str | None, candidates: list[Site]
) -> list[Site]:
    """Names as ``run.explain`` takes them (the model's own names), and the value a fused
    pattern observes instead."""
    try:
        explanation = cal.run.explain(value, module, method)
    except ObsvizError:
        return []
    refs = [explanation.value, *explanation.related.values()]
    for ref in refs:
        found = [
            s
            for s in cal.sites
            if s.module_path == (ref.module_path or "") and s.unique == ref.unique
        ]
        if found:
            return found
    table = cal.ranges
    rows = table[(table.module_path == module) & (table.value == _bare(value))]
    return [s for s in candidates if s.attribute in set(rows.observer)]
