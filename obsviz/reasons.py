"""The reason vocabulary: every way the pass can decide about a value, in one place.

A verdict (:mod:`obsviz.verdicts`) names its reason with a :class:`Reason`; everything a
view needs to know about a reason is its :class:`ReasonInfo` in :data:`REASONS`: whether
the value gets an observer of its own, what the code means, the rule of the pass that
decides it, the legend state figures draw it in, how the ``observed`` table counts it, and
its rank in the report. The codes are plain strings too (``Reason.DELAYED == "delayed"``),
so the engine's event codes and user code comparing strings keep working.

Adding a reason: a member here, its record in :data:`REASONS`, and the verdict (or engine
rule) that produces it; ``obsviz.explain`` falls back to the summary for its sentence
until it gets one of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Reason(str, Enum):
    """A reason code; it is the string it stands for (printing, formatting, comparing)."""

    OBSERVED_HERE = "observed_here"
    OBSERVED_AFTER_FUSION = "observed_after_fusion"
    OBSERVED_FOR_CALLEE_INPUT = "observed_for_callee_input"
    OBSERVED_FOR_CALLEE_OUTPUT = "observed_for_callee_output"
    OBSERVED_FOR_IF_OUTPUT = "observed_for_if_output"
    OBSERVER_RECORDED = "observer_recorded"
    DELAYED = "delayed"
    OBSERVED_AT_CALL_SITE = "observed_at_call_site"
    PASS_THROUGH = "pass_through"
    OBSERVED_UPSTREAM = "observed_upstream"
    PROPAGATE_INPUT_UNOBSERVED = "propagate_input_unobserved"
    BIAS = "bias"
    NOT_TENSOR = "not_tensor"
    EMBEDDING_BAG_NON_INPUT = "embedding_bag_non_input"
    NO_QCONFIG = "no_qconfig"
    NO_QUANTIZABLE_USE = "no_quantizable_use"
    DYNAMIC_RULES = "dynamic_rules"
    DYNAMIC_FP16_ACTIVATION = "dynamic_fp16_activation"
    ONDEVICE_DYNAMIC_ACTIVATION = "ondevice_dynamic_activation"
    IN_FUNCTION = "in_function"
    SKIPPED_IN_LOOP = "skipped_in_loop"
    NOT_WALKED = "not_walked"
    REMOVED_BY_PREPROCESSING = "removed_by_preprocessing"

    __str__ = str.__str__
    __format__ = str.__format__
    __repr__ = str.__repr__


LAST_RANK = 99
"""The report's rank of the reasons it never needs to list first (values with observers)."""


@dataclass(frozen=True)
class ReasonInfo:
    """What one reason code means, and how each view shows it."""

    code: Reason
    observed: bool  # does the value get an observer call of its own?
    summary: str
    rule: str  # the function of the pass whose decision this is
    state: str = "not_needed"  # the figures' legend state (obsviz.figures.style.STATES)
    state_note: str = ""  # a short second label line on the figure's edge
    how_observed: str | None = None  # the ``observed`` table's "how"; None: not observed
    report_rank: int = LAST_RANK  # the report lists the lowest first (the surprising ones)

    @property
    def observed_without_observer(self) -> bool:
        """Counts as observed, by an observer elsewhere (upstream, at a call site)."""
        return self.how_observed in ("propagated", "at_call_site")


REASONS: dict[Reason, ReasonInfo] = {
    info.code: info
    for info in (
        ReasonInfo(
            Reason.OBSERVED_HERE,
            True,
            "an observer is inserted on the value: it needs quantization (its own "
            "valueNeedsToBeQuantized, or that of a callee value it is passed to) and "
            "shouldObserve agreed",
            "insertObserverFor",
            state="observed",
            how_observed="observer",
        ),
        ReasonInfo(
            Reason.OBSERVED_AFTER_FUSION,
            True,
            "an observer is inserted on the value in place of the first op's output of a "
            "fusion pattern (e.g. conv2d -> relu), whose observation was delayed to here",
            "delayObservingValuesInPattern",
            state="observed",
            how_observed="observer",
        ),
        ReasonInfo(
            Reason.OBSERVED_FOR_CALLEE_INPUT,
            True,
            "an observer is inserted on the value at a call site because the called "
            "method's input needs one and the value was not observed yet",
            "insertObserversFor",
            state="observed",
            how_observed="observer",
        ),
        ReasonInfo(
            Reason.OBSERVED_FOR_CALLEE_OUTPUT,
            True,
            "an observer is inserted on a call's result because the called graph's return "
            "value needs one (a called graph never observes its own return)",
            "insertObserversFor",
            state="observed",
            how_observed="observer",
        ),
        ReasonInfo(
            Reason.OBSERVED_FOR_IF_OUTPUT,
            True,
            "an observer is inserted on a branch's result because the If output needs one "
            "(a branch never observes its own outputs)",
            "insertObserversFor",
            state="observed",
            how_observed="observer",
        ),
        ReasonInfo(
            Reason.OBSERVER_RECORDED,
            False,
            "an observer is recorded for the value but not inserted yet (a step before the "
            "end of the graph's walk, or the pass stopped)",
            "recordObserved",
            state="observed",
            state_note="observer recorded",
            how_observed="recorded",
            report_rank=10,
        ),
        ReasonInfo(
            Reason.DELAYED,
            False,
            "a fusion pattern delays its observation: the second op's output is observed instead",
            "delayObservingValuesInPattern",
            state="delayed",
            report_rank=0,
        ),
        ReasonInfo(
            Reason.OBSERVED_AT_CALL_SITE,
            False,
            "an input or return of a called method: its observer sits on the caller's "
            "value at the call site",
            "insertObserversFor",
            state="call_site",
            state_note="observed at call site",
            how_observed="at_call_site",
            report_rank=13,
        ),
        ReasonInfo(
            Reason.PASS_THROUGH,
            False,
            "counts as observed without an observer: a pass-through op (pooling, flatten, "
            "relu, ...) passes on the observed state of its inputs",
            "propagateObservedProperty",
            state="pass_through",
            how_observed="propagated",
            report_rank=12,
        ),
        ReasonInfo(
            Reason.OBSERVED_UPSTREAM,
            False,
            "counts as observed without an observer: already observed upstream (the "
            "caller passes an observed value, the called graph observed what it returns, "
            "or every If branch observed it)",
            "insertObserversFor",
            state="call_site",
            how_observed="propagated",
            report_rank=11,
        ),
        ReasonInfo(
            Reason.PROPAGATE_INPUT_UNOBSERVED,
            False,
            "a propagate op (cat, add, mul) is observed only when its tensor inputs are, "
            "and an input was not",
            "shouldObserve",
            report_rank=1,
        ),
        ReasonInfo(
            Reason.BIAS,
            False,
            "the bias of a conv or linear is never observed",
            "isBiasOfConvOrLinear",
            state="bias",
            report_rank=14,
        ),
        ReasonInfo(
            Reason.NOT_TENSOR,
            False,
            "not a Tensor or a list of Tensors",
            "valueNeedsToBeQuantized",
            report_rank=17,
        ),
        ReasonInfo(
            Reason.EMBEDDING_BAG_NON_INPUT,
            False,
            "the offsets or per_sample_weights of aten::embedding_bag are never observed",
            "isEmbeddingBagNonInput",
            report_rank=15,
        ),
        ReasonInfo(
            Reason.NO_QCONFIG,
            False,
            "the module running the graph has no qconfig (None, or no key covers it)",
            "fillQConfigMap",
            report_rank=2,
        ),
        ReasonInfo(
            Reason.NO_QUANTIZABLE_USE,
            False,
            "no quantizable op uses it (nor, in static quantization, produces it), and no "
            "called method it is passed to needs it observed",
            "valueNeedsToBeQuantized",
            report_rank=16,
        ),
        ReasonInfo(
            Reason.DYNAMIC_RULES,
            False,
            "dynamic quantization observes only the input and weight of linear, the one "
            "dynamically quantizable op; static quantization would observe the value, or "
            "the one it leads to across calls and pass-through ops (a conv's input, a "
            "linear's output, ...)",
            "valueNeedsToBeQuantized",
            report_rank=3,
        ),
        ReasonInfo(
            Reason.DYNAMIC_FP16_ACTIVATION,
            False,
            "dynamic quantization with a float16 activation observer observes no "
            "activations (values not used as the weight of a conv or linear)",
            "valueNeedsToBeQuantized",
            report_rank=4,
        ),
        ReasonInfo(
            Reason.ONDEVICE_DYNAMIC_ACTIVATION,
            False,
            "on-device dynamic PTQ keeps only weight observers",
            "removeActivationObservers",
            report_rank=5,
        ),
        ReasonInfo(
            Reason.IN_FUNCTION,
            False,
            "a value of a user-defined function: the pass configures no observers inside functions",
            "fillValueObserverMap",
            report_rank=6,
        ),
        ReasonInfo(
            Reason.SKIPPED_IN_LOOP,
            False,
            "inside a prim::Loop body (or a method called only there), which the pass "
            "never walks, though it would need an observer",
            "insertObserversFor",
            state="not_visited",
            report_rank=7,
        ),
        ReasonInfo(
            Reason.NOT_WALKED,
            False,
            "in a block or method the pass never walks (an If branch that always raises, "
            "prim::With or closure bodies), or the pass stopped before reaching it",
            "insertObserversFor",
            state="not_visited",
            report_rank=8,
        ),
        ReasonInfo(
            Reason.REMOVED_BY_PREPROCESSING,
            False,
            "not in the graph the pass analyzed: preprocessing (fork/wait inlining, linear "
            "fusion, conv rewriting, constant propagation, list-mutation removal) replaced "
            "it",
            "preprocess",
            report_rank=9,
        ),
    )
}
"""Every reason code's record, in the order the README lists them."""

SHOULD_OBSERVE_OUTCOMES = {
    "quantizable_use": "a use is quantizable",
    "propagate_input_observed": "cat's input is observed",
    "propagate_inputs_observed": "both inputs are observed",
    "propagate_input_unobserved": "an input is not observed",
    "not_propagate_op": "not a propagate op (cat, add, mul)",
}
"""What the engine's ``shouldObserve`` outcome codes mean, for the trail."""

SKIP_OUTCOMES = {
    "graph_boundary": "skipped: an input or output of the graph or block, left to its caller",
    "already_observed": "skipped: already observed",
    "no_observer": "none: no observer configured for it or for the callee values it maps to",
}
"""What the engine's codes for a value ``insertObserversFor`` passes over mean, for the
trail."""


def reasons_markdown() -> str:
    """The reason vocabulary as a Markdown table (as in the README)."""
    lines = [
        "| reason | observer on the value | meaning | rule of the pass |",
        "| --- | --- | --- | --- |",
    ]
    for r in REASONS.values():
        lines.append(f"| `{r.code}` | {'yes' if r.observed else 'no'} | {r.summary} | `{r.rule}` |")
    return "\n".join(lines)
