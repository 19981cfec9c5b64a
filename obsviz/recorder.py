"""What a run of the pass records, and the one place that knows how.

The engine (:mod:`obsviz.engine`) ports ``InsertObservers`` decision by decision; where
the C++ would print a ``GRAPH_DEBUG`` line, it tells its recorder what it decided. The
:class:`Recorder` turns that into an event (:mod:`obsviz.events`): it names values as the
model names them, makes the refs, builds the details explanations read (the use that
decided, the inputs a propagate op waited for), numbers the events, keeps them and hands
them to the user's hooks. A run with nothing to record gets a :class:`NullRecorder`,
whose event methods do nothing.

Both keep what the run's maps need even when nothing is recorded: which instances run
each graph, the observers inserted, and :meth:`Recorder.maps_view`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import torch

from . import events as ev
from . import rules
from .clone import SplitGroup
from .graphs import BLOCK_KINDS
from .qconfig import ModuleQConfig, named_modules
from .refs import GraphRef, ValueKey, ValueRef

if TYPE_CHECKING:
    from .engine import InsertObserversHelper, InstanceGraph, ObserverConfig

Value = torch._C.Value
Node = torch._C.Node


class Recorder:
    """Turns what the engine tells it into events: numbers them, keeps them, and forwards
    them to the user's hooks. One method per kind of decision, named for it."""

    def __init__(self, hooks: Iterable[ev.Hook] = ()) -> None:
        self.events: list[ev.Event] = []
        self.hooks = tuple(hooks)
        # the debug name of each value when first referred to (the model's, where known)
        self.names: dict[ValueKey, str] = {}
        # the model's debug names for the cloned graphs' values (see values_named)
        self.original_names: dict[ValueKey, str] = {}
        # the instances (paths) that run each method graph, in the order the pass met them
        self.paths_of_graph: dict[str, list[str]] = {}
        # (module path, observer attribute, observed value) for each observer inserted
        self.inserted: list[tuple[str, str, ValueRef]] = []
        # the helper whose maps are the run's (set when the helper is made)
        self.helper: InsertObserversHelper | None = None

    def emit(self, event: ev.Event) -> None:
        object.__setattr__(event, "step", len(self.events))
        self.events.append(event)
        for hook in self.hooks:
            hook(event)

    # ------------------------------------------------------------------ names and refs
    def note_graph(self, instance: InstanceGraph) -> None:
        """``instance``'s instance runs its method graph."""
        paths = self.paths_of_graph.setdefault(instance.qualname, [])
        if instance.path not in paths:
            paths.append(instance.path)

    def ref(self, v: Value, instance: InstanceGraph, kind: str = "method") -> ValueRef:
        """A reference to ``v`` of ``instance``; ``kind`` is the kind its ``GraphRef`` says."""
        key = instance.key(v)
        name = self.names.get(key)
        if name is None:
            name = self.names[key] = v.debugName()
        return ValueRef(GraphRef(instance.qualname, kind), key[1], name, instance.path)

    def key_ref(self, key: ValueKey, path: str | None = None) -> ValueRef:
        """A reference to the value a map key names, in the first instance running its
        graph unless ``path`` says which."""
        qualname, unique = key
        kind = "method" if qualname in self.paths_of_graph else "function"
        if path is None:
            path = (self.paths_of_graph.get(qualname) or [""])[0]
        return ValueRef(GraphRef(qualname, kind), unique, self.names.get(key, str(unique)), path)

    def maps_view(self) -> ev.MapsView:
        """A snapshot of the helper's maps as they stand; references are made when it is
        read."""
        helper = self.helper
        if helper is None:
            return ev.MapsView.empty()
        return ev.MapsView(
            {
                "delay": {k: t[1] for k, t in helper.delay_observation_map.items()},
                "boundary": {k: tuple(v) for k, v in helper.boundary_value_map.items()},
                "observer": dict(helper.observer_for_value),
                "pass_through": {k: tuple(v) for k, v in helper.pass_through_value_map.items()},
                "observed": frozenset(helper.observed_values),
                "inserted": tuple(self.inserted),
            },
            self.key_ref,
        )

    def values_named(self, original: torch._C.ScriptModule, cloned: torch._C.ScriptModule) -> None:
        """Name the cloned graphs' values as ``original``'s graphs name them."""
        self.original_names = original_value_names(original, cloned)
        self.names.update(self.original_names)

    # ------------------------------------------------------------------ the driver
    def phase_started(self, phase: str) -> None:
        self.emit(ev.PhaseStarted(phase=phase))

    def phase_finished(self, phase: str) -> None:
        self.emit(ev.PhaseFinished(phase=phase, maps=self.maps_view()))

    def qconfigs_assigned(self, qconfigs: Mapping[str, ModuleQConfig]) -> None:
        for module_qconfig in qconfigs.values():
            self.emit(
                ev.QConfigAssigned(
                    module_path=module_qconfig.path,
                    qconfig_key=module_qconfig.key,
                    explicit=module_qconfig.explicit,
                    has_qconfig=module_qconfig.qconfig is not None,
                )
            )

    def types_split(self, splits: Iterable[SplitGroup]) -> None:
        for group in splits:
            self.emit(
                ev.TypeSplit(
                    original_type=group.original_type,
                    new_type=group.new_type,
                    module_paths=group.module_paths,
                    qconfig_key=group.qconfig_key,
                    below=group.below,
                )
            )

    # ------------------------------------------------------------------ analysis
    def boundary_mapped(
        self,
        caller: Value,
        instance: InstanceGraph,
        callee: Value,
        callee_instance: InstanceGraph,
        kind: str,
    ) -> None:
        self.emit(
            ev.BoundaryEntry(
                caller=self.ref(caller, instance),
                callee=self.ref(callee, callee_instance, callee_instance.kind),
                kind=kind,
            )
        )

    def delay_matched(
        self, pattern: str, first: Value, second: Value, instance: InstanceGraph
    ) -> None:
        self.emit(
            ev.DelayMatched(
                pattern=pattern, first=self.ref(first, instance), second=self.ref(second, instance)
            )
        )

    def value_needs_to_be_quantized(
        self,
        v: Value,
        instance: InstanceGraph,
        needed: bool,
        reason: str,
        observer: ObserverConfig | None,
    ) -> None:
        # The port checks the cheap tensor clause first; C++ checks the bias clause
        # first, and names it for a bias that is not a tensor (None).
        if reason == "not_tensor" and rules.is_bias_of_conv_or_linear(v):
            reason = "bias"
        self.emit(
            ev.RuleEvaluated(
                rule="valueNeedsToBeQuantized",
                value=self.ref(v, instance),
                outcome=needed,
                reason=reason,
                detail=self.vnq_detail(v, reason, observer),
            )
        )

    def vnq_detail(self, v: Value, reason: str, observer: ObserverConfig | None) -> tuple:
        """For explanations: the configured role, the deciding use, what static would do."""
        quant_type = self.helper.quant_type
        detail: list[tuple[str, object]] = []
        if observer is not None:
            detail.append(("role", observer.role))
        if reason == "quantizable_use":
            use = next(u for u in v.uses() if rules.use_quantizable(u.user, u.offset, quant_type))
            detail.append(("use", (use.user.kind(), use.offset)))
        elif reason == "no_quantizable_use" and quant_type == rules.DYNAMIC:
            would = static_would_observe(v)
            if would is not None:
                detail.append(("static_would_observe", would))
        return tuple(detail)

    def pass_through_mapped(
        self, output: Value, inputs: list[Value], instance: InstanceGraph
    ) -> None:
        self.emit(
            ev.PassThroughEntry(
                output=self.ref(output, instance, instance.kind),
                inputs=tuple(self.ref(i, instance, instance.kind) for i in inputs),
            )
        )

    def activation_observer_removed(self, key: ValueKey) -> None:
        self.emit(
            ev.RuleEvaluated(
                rule="removeActivationObservers",
                value=self.key_ref(key),
                outcome=False,
                reason="ondevice_dynamic_activation",
            )
        )

    # ------------------------------------------------------------------ insertion
    def graph_entered(self, instance: InstanceGraph, first_visit: bool) -> None:
        kind = "method" if instance.qualname in self.paths_of_graph else "function"
        self.emit(
            ev.GraphEntered(
                graph=GraphRef(instance.qualname, kind),
                module_path=instance.path,
                first_visit=first_visit,
            )
        )

    def observer_attached(self, module_path: str, attribute: str) -> None:
        self.emit(ev.ObserverAttached(module_path=module_path, attribute=attribute))

    def observer_recorded(
        self,
        v: Value,
        to_observe: Value,
        instance: InstanceGraph,
        observer: ObserverConfig,
        via: str,
    ) -> None:
        self.emit(
            ev.ObserverRecorded(
                value=self.ref(v, instance),
                target=self.ref(to_observe, instance),
                role=observer.role,
                via=via,
                site=instance.path,
            )
        )

    def observed_from_callee(
        self, output: Value, instance: InstanceGraph, returned: Value, callee: InstanceGraph
    ) -> None:
        """The call's ``output`` is observed because the callee observed what it returns."""
        self.emit(
            ev.ObservedPropagated(
                value=self.ref(output, instance),
                sources=(self.ref(returned, callee, callee.kind),),
                via="callee_output",
            )
        )

    def observed_from_branches(self, output: Value, instance: InstanceGraph, n: Node) -> None:
        """The ``If`` ``n``'s ``output`` is observed because every branch observed it."""
        index = output.offset()
        self.emit(
            ev.ObservedPropagated(
                value=self.ref(output, instance),
                sources=tuple(self.ref(list(sub.outputs())[index], instance) for sub in n.blocks()),
                via="if_output",
            )
        )

    def observed_from_inputs(
        self, output: Value, instance: InstanceGraph, inputs: list[ValueKey]
    ) -> None:
        """``propagateObservedProperty``: the pass-through ``inputs`` are all observed."""
        self.emit(
            ev.ObservedPropagated(
                value=self.ref(output, instance),
                sources=tuple(self.key_ref(i, instance.path) for i in dict.fromkeys(inputs)),
                via="pass_through",
            )
        )

    def passed_over(self, v: Value, instance: InstanceGraph, reason: str) -> None:
        """``insertObserversFor`` does not consider ``v`` (a graph boundary, or observed)."""
        self.emit(
            ev.RuleEvaluated(
                rule="insertObserversFor", value=self.ref(v, instance), outcome=False, reason=reason
            )
        )

    def no_observer(self, v: Value, instance: InstanceGraph) -> None:
        self.emit(
            ev.RuleEvaluated(
                rule="getObserverFor",
                value=self.ref(v, instance),
                outcome=False,
                reason="no_observer",
            )
        )

    def should_observe(
        self,
        v: Value,
        n: Node,
        instance: InstanceGraph,
        should: bool,
        reason: str,
        block_observed_values: set[ValueKey],
    ) -> None:
        self.emit(
            ev.RuleEvaluated(
                rule="shouldObserve",
                value=self.ref(v, instance),
                outcome=should,
                reason=reason,
                detail=self.should_observe_detail(n, instance, reason, block_observed_values),
            )
        )

    def should_observe_detail(
        self, n: Node, instance: InstanceGraph, reason: str, block_observed_values: set[ValueKey]
    ) -> tuple:
        """For explanations: the deciding use, or the propagate op's inputs and their state."""
        helper = self.helper
        if reason == "quantizable_use":
            for v in n.outputs():
                for use in v.uses():
                    if rules.use_quantizable(use.user, use.offset, helper.quant_type):
                        return (("use", (use.user.kind(), use.offset)),)
        if reason.startswith("propagate_"):
            count = 1 if rules.is_propagate_quant_single_input_op(n) else 2
            return (
                (
                    "inputs",
                    tuple(
                        (
                            self.ref(i, instance),
                            helper.is_observed(instance.key(i), block_observed_values),
                        )
                        for i in list(n.inputs())[:count]
                    ),
                ),
            )
        return ()

    def loop_skipped(self, n: Node, instance: InstanceGraph, values: list[Value]) -> None:
        out = n.outputsAt(0) if n.outputsSize() else None
        self.emit(
            ev.LoopSkipped(
                loop_output=self.ref(out, instance) if out else None,
                module_path=instance.path,
                method=instance.method,
                values=tuple(self.ref(v, instance) for v in values),
            )
        )

    def observer_inserted(
        self,
        v: Value,
        name_before: str,
        instance: InstanceGraph,
        attribute: str,
        observer: ObserverConfig,
        observer_output: Value,
    ) -> None:
        """``attribute`` observes ``v``, which the observer's call renamed: the call's
        output took over ``name_before``. Kept for the run's maps even with no events."""
        key = instance.key(v)
        ref = ValueRef(
            GraphRef(instance.qualname), key[1], self.names.get(key, name_before), instance.path
        )
        self.inserted.append((instance.path, attribute, ref))
        self.emit(
            ev.ObserverInserted(
                value=ref,
                module_path=instance.path,
                attribute=attribute,
                observer_class=observer.class_name,
                output_name=observer_output.debugName(),
            )
        )

    def reset_method_added(self, module_path: str, method: str, observers: tuple[str, ...]) -> None:
        self.emit(ev.ResetMethodAdded(module_path=module_path, method=method, observers=observers))


class NullRecorder(Recorder):
    """Records no events: each event method does nothing, so a run that keeps none pays
    one call per decision. Names, refs, the observers inserted and the maps view still
    work: the run's maps need them."""

    def _nothing(self, *args: object, **kwargs: object) -> None:
        """Records nothing."""

    emit = values_named = phase_started = phase_finished = qconfigs_assigned = types_split = (
        boundary_mapped
    ) = delay_matched = value_needs_to_be_quantized = pass_through_mapped = (
        activation_observer_removed
    ) = graph_entered = observer_attached = observer_recorded = observed_from_callee = (
        observed_from_branches
    ) = observed_from_inputs = passed_over = no_observer = should_observe = loop_skipped = (
        reset_method_added
    ) = _nothing


def static_would_observe(v: Value) -> tuple[str, str] | None:
    """Which clause of static ``valueNeedsToBeQuantized`` would accept ``v``: (``"the
    output"``, ``"input 0"`` or ``"the weight"``; the op). Propagate ops (add, cat) are
    left out: static quantization observes them only when shouldObserve agrees."""
    producer = v.node()
    if rules.node_quantizable(producer, rules.STATIC) and not rules.is_weight_only_static_quant_op(
        producer
    ):
        return "the output", rules.op_name(producer)
    for use in v.uses():
        if rules.use_quantizable(use.user, use.offset, rules.STATIC):
            use_info = [(use.user, use.offset, use.user.kind())]
            argument = (
                f"argument {use.offset - 1}"
                if use.user.kind() == "prim::CallFunction"
                else f"input {use.offset}"
            )
            which = "the weight" if rules.WEIGHT.matches(use_info) else argument
            return which, rules.op_name(use.user)
    return None


def _collect_values(block: torch._C.Block, values: list[Value]) -> None:
    for node in block.nodes():
        values.extend(node.outputs())
        if node.kind() in BLOCK_KINDS:
            for sub in node.blocks():
                values.extend(sub.inputs())
                _collect_values(sub, values)


def _graph_values(graph: torch._C.Graph) -> list[Value]:
    """Every value a graph defines, in printing order."""
    values = list(graph.inputs())
    _collect_values(graph.block(), values)
    return values


def original_value_names(
    original: torch._C.ScriptModule, cloned: torch._C.ScriptModule
) -> dict[ValueKey, str]:
    """Debug names as the user sees them in ``model.graph``, for the cloned graphs' values.

    Cloning copies each graph node for node but renumbers unnamed values, so values are
    paired by position.
    """
    names: dict[ValueKey, str] = {}
    cloned_modules = dict(named_modules(cloned))
    seen: set[str] = set()
    for path, module in named_modules(original):
        copy_ = cloned_modules.get(path)
        if copy_ is None:
            continue
        type_name = copy_._type().qualified_name()
        if type_name in seen:
            continue
        seen.add(type_name)
        for method in module._method_names():
            if not copy_._has_method(method):
                continue
            before = _graph_values(module._get_method(method).graph)
            after = _graph_values(copy_._get_method(method).graph)
            if len(before) != len(after):
                continue
            qualname = f"{type_name}.{method}"
            for old, new in zip(before, after, strict=True):
                names[(qualname, new.unique())] = old.debugName()
    return names
