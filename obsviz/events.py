"""Events the engine emits while it runs; a hook is any callable taking one of them.

Events are plain frozen dataclasses holding refs and tuples, so recording them is cheap
and they can be replayed after the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

from .refs import GraphRef, ValueRef

PHASES = (
    "fill_qconfig_map",
    "clone",
    "swap_functional_linear",
    "preprocess",
    "fill_boundary_value_map",
    "analyze",
    "insert_observers",
    "insert_reset_observer_method",
)


@dataclass(frozen=True)
class Event:
    """Base class of every engine event. ``step`` is its index in the run."""

    step: int = field(default=-1, kw_only=True)


class MapsView:
    """Read-only snapshots of the engine's maps, as ValueRef-keyed mappings.

    The snapshot copies the engine's plain maps; turning them into references happens on
    first access, so recording a snapshot at every phase stays cheap.
    """

    def __init__(
        self,
        raw: dict[str, object] | None = None,
        key_ref: Callable[[tuple[str, int]], ValueRef] | None = None,
    ) -> None:
        self._raw = raw or {}
        self._key_ref = key_ref

    @staticmethod
    def empty() -> MapsView:
        return MapsView()

    def _refs(self, name: str) -> dict:
        return self._raw.get(name, {})  # type: ignore[return-value]

    def _by_ref(self, name: str, read: Callable[[object], object]) -> Mapping[ValueRef, object]:
        """The map ``name`` keyed by references, each of its values as ``read`` reads it."""
        return MappingProxyType(
            {self._key_ref(key): read(value) for key, value in self._refs(name).items()}
        )

    def _refs_of(self, keys: Iterable[tuple[str, int]]) -> tuple[ValueRef, ...]:
        return tuple(self._key_ref(key) for key in keys)

    @cached_property
    def delay(self) -> Mapping[ValueRef, ValueRef]:
        return self._by_ref("delay", self._key_ref)

    @cached_property
    def boundary(self) -> Mapping[ValueRef, tuple[ValueRef, ...]]:
        return self._by_ref("boundary", self._refs_of)

    @cached_property
    def observer_for_value(self) -> Mapping[ValueRef, str]:
        return self._by_ref("observer", lambda observer: f"{observer.role}:{observer.class_name}")

    @cached_property
    def pass_through(self) -> Mapping[ValueRef, tuple[ValueRef, ...]]:
        return self._by_ref("pass_through", self._refs_of)

    @cached_property
    def observed(self) -> frozenset[ValueRef]:
        return frozenset(self._refs_of(self._raw.get("observed", ())))

    @property
    def inserted(self) -> tuple[tuple[str, str, ValueRef], ...]:
        return self._raw.get("inserted", ())  # type: ignore[return-value]


@dataclass(frozen=True)
class PhaseStarted(Event):
    phase: str


@dataclass(frozen=True)
class PhaseFinished(Event):
    phase: str
    maps: MapsView


@dataclass(frozen=True)
class QConfigAssigned(Event):
    """``fillQConfigMap`` gave a module its qconfig, by its own key or its parent's."""

    module_path: str
    qconfig_key: str | None
    explicit: bool
    has_qconfig: bool


@dataclass(frozen=True)
class TypeSplit(Event):
    """Instances of one class type got different qconfigs, so each group got its own type."""

    original_type: str
    new_type: str
    module_paths: tuple[str, ...]
    qconfig_key: str | None
    below: bool  # True when the split is needed because of qconfigs set below the instance


@dataclass(frozen=True)
class BoundaryEntry(Event):
    """``fillBoundaryValueMap``: a caller value maps to a callee's input or return."""

    caller: ValueRef
    callee: ValueRef
    kind: str  # "input", "return" or "if_output"


@dataclass(frozen=True)
class DelayMatched(Event):
    """``delayObservingValuesInPattern``: ``first`` is observed as ``second`` instead."""

    pattern: str
    first: ValueRef
    second: ValueRef


@dataclass(frozen=True)
class PassThroughEntry(Event):
    """``fillPassThroughValueMap``: ``output`` is observed when all ``inputs`` are."""

    output: ValueRef
    inputs: tuple[ValueRef, ...]


@dataclass(frozen=True)
class RuleEvaluated(Event):
    """A rule of the pass decided something about a value.

    ``rule`` is the C++ function (``valueNeedsToBeQuantized``, ``shouldObserve``, ...),
    ``outcome`` its result and ``reason`` a code naming the clause that decided.
    ``detail`` holds ``(name, value)`` pairs for explanations: ``role`` (the observer
    configured), ``use`` (the deciding use, as op kind and input offset), ``inputs`` (a
    propagate op's inputs with their observed state), ``static_would_observe`` (in a
    dynamic run: which clause of static quantization would take the value, as
    ``("the output" | "input 0" | "the weight", op)``).
    """

    rule: str
    value: ValueRef
    outcome: bool
    reason: str
    detail: tuple = ()


@dataclass(frozen=True)
class GraphEntered(Event):
    """``insertObserversFor`` starts walking a method or function graph for an instance.

    Only the first walk of a graph (``first_visit``) inserts observers; later walks of a
    graph shared by other instances (or called again) copy them.
    """

    graph: GraphRef
    module_path: str
    first_visit: bool


@dataclass(frozen=True)
class ObserverRecorded(Event):
    """``recordObserved``: ``value`` will be observed, at ``target`` after any delay."""

    value: ValueRef
    target: ValueRef
    role: str  # "activation" or "weight"
    via: str  # "self", "callee_input", "callee_output", "if_output"
    site: str  # module path where the observer will live


@dataclass(frozen=True)
class ObservedPropagated(Event):
    """A value counts as observed without an observer of its own, because of ``sources``.

    ``via`` is "pass_through" (``propagateObservedProperty``), "callee_output" (the
    called graph observed what it returns) or "if_output" (every branch observed it).
    """

    value: ValueRef
    sources: tuple[ValueRef, ...]
    via: str


@dataclass(frozen=True)
class ObserverInserted(Event):
    """``insertObserverFor``: an observer module was added and called on ``value``."""

    value: ValueRef
    module_path: str
    attribute: str
    observer_class: str
    output_name: str


@dataclass(frozen=True)
class ObserverAttached(Event):
    """A revisited shared graph: the observer attribute was set on another instance."""

    module_path: str
    attribute: str


@dataclass(frozen=True)
class LoopSkipped(Event):
    """``prim::Loop``: the pass does not look inside; ``values`` are never observed.

    ``values`` are the outputs of the quantizable ops and calls in the body.
    """

    loop_output: ValueRef | None
    module_path: str
    method: str
    values: tuple[ValueRef, ...] = ()


@dataclass(frozen=True)
class ResetMethodAdded(Event):
    module_path: str
    method: str
    observers: tuple[str, ...]


Hook = Callable[[Event], None]
