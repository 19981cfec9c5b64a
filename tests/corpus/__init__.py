"""Differential test corpus for the ``InsertObservers`` re-implementation.

Every :class:`Case` is a small eager model plus the qconfig dict, inputs and quantization
type a user would hand to ``prepare_jit`` / ``prepare_dynamic_jit``.  The recorded
behaviour (``real_raises``, ``convertible``) was verified against the real C++ pass
(``torch._C._jit_pass_insert_observers``) of the installed torch; see
``tests/test_corpus_real.py``.

Models are module-level classes because TorchScript needs their source.  Each module of
this package holds one rule family of the pass: its models, then its cases (``CASES``);
:data:`CASES` joins them in a fixed order, which test ids follow.  Cases are tagged with
rule families from :data:`TAGS`.  The case record is in :mod:`tests.corpus.case_record`;
torch's own pass (running it, the messages it raises, what reads its result) in
:mod:`tests.corpus.torch_pass`; what the case tables are written in (inputs, qconfig
dicts, builders) in :mod:`tests.corpus.builders`.
"""

from __future__ import annotations

from . import (
    boundaries,
    branches,
    conv_linear,
    delay,
    dynamic,
    embedding_bag,
    failures,
    fold,
    fork_wait,
    functions,
    hardswish_norms,
    loops,
    pass_through,
    propagate,
    qualified_names,
    realistic,
    submodules,
    tuples_lists,
)
from .branches import IfInconsistentZeros
from .builders import (
    DYNAMIC,
    DYNAMIC_FP16,
    DYNAMIC_PER_CHANNEL,
    FBGEMM,
    IMG,
    IMG2,
    IMG_PAIR,
    QNNPACK,
    SEQ,
    STATIC,
    VEC,
    WEIGHT_ONLY,
)
from .case_record import QUANT_TYPES, TAGS, Case, run_method, script
from .conv_linear import LinearOnly
from .loops import FloatFunctionalAddAndMul
from .torch_pass import (
    IF_INCONSISTENT_MSG,
    LOOP_SHARED_TYPE_MSG,
    MODULE_ACCESS_MSG,
    OBJECT_ARGUMENT_MSG,
    ONE_OBSERVER_MSG,
    SPLIT_BELOW_MSG,
    count_observer_calls,
    paths_walked,
    real_insert_observers,
    real_pass,
)

CASES: tuple[Case, ...] = (
    *conv_linear.CASES,
    *delay.CASES,
    *pass_through.CASES,
    *propagate.CASES,
    *hardswish_norms.CASES,
    *embedding_bag.CASES,
    *submodules.CASES,
    *branches.CASES,
    *loops.CASES,
    *functions.CASES,
    *tuples_lists.CASES,
    *fork_wait.CASES,
    *boundaries.CASES,
    *dynamic.CASES,
    *realistic.CASES,
    *failures.CASES,
    *qualified_names.CASES,
    *fold.CASES,
)

_BY_NAME: dict[str, Case] = {c.name: c for c in CASES}
if len(_BY_NAME) != len(CASES):
    raise RuntimeError("duplicate case names in corpus")


def case(name: str) -> Case:
    """Look a case up by name."""
    return _BY_NAME[name]


__all__ = [
    "CASES",
    "DYNAMIC",
    "DYNAMIC_FP16",
    "DYNAMIC_PER_CHANNEL",
    "FBGEMM",
    "IF_INCONSISTENT_MSG",
    "IMG",
    "IMG2",
    "IMG_PAIR",
    "LOOP_SHARED_TYPE_MSG",
    "MODULE_ACCESS_MSG",
    "OBJECT_ARGUMENT_MSG",
    "ONE_OBSERVER_MSG",
    "QNNPACK",
    "QUANT_TYPES",
    "SEQ",
    "SPLIT_BELOW_MSG",
    "STATIC",
    "TAGS",
    "VEC",
    "WEIGHT_ONLY",
    "Case",
    "FloatFunctionalAddAndMul",
    "IfInconsistentZeros",
    "LinearOnly",
    "case",
    "count_observer_calls",
    "fold",
    "paths_walked",
    "real_insert_observers",
    "real_pass",
    "run_method",
    "script",
]
