"""Model rewrites that avoid known failures of the pass, leaving the input alone.

:func:`fold_constant_branches` makes constants of what is fixed in the model you quantize
(``self`` attributes such as ``training``, and arguments every caller passes alike, such as
``pre_logits=False``) and lets constant propagation remove the branches on them. What it
folded is kept on the copy (:data:`FOLDS_ATTRIBUTE`), so explanations can say so.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch.jit._recursive import wrap_cpp_module

from .errors import ObsvizError
from .functions import FunctionResolver
from .graphs import access_path, argument_name, parameters_behind, source_line, walk_nodes
from .qconfig import named_children, named_modules
from .refs import TOP, display_path, join_path, method_label
from .rules import user_defined_call_function

FOLDABLE = (bool, int, float, str)  # values a graph can hold as a constant
# A str attribute of the folded copy's top module: JSON, what was folded where
FOLDS_ATTRIBUTE = "_obsviz_folds"
_module_iterators = torch._C._jit_debug_module_iterators
# torch's own functions branch on their arguments only to check them or to pick an
# in-place variant, which the pass recognises by name; they are never inlined
TORCH_FUNCTIONS = "__torch__.torch."

Key = tuple[str, str]  # (class type's qualified name, method name)


class ArgumentFold(NamedTuple):
    """An argument folded away: every call of ``method`` passes ``argument`` as ``value``.

    ``method`` is ``"<path>.<name>"`` with the path of the first module running it.
    """

    method: str
    argument: str
    value: object

    def __str__(self) -> str:
        return f"{self.method}({self.argument}={self.value!r})"


class _NotConstant:
    def __repr__(self) -> str:
        return "a value that is not a constant"


NOT_CONSTANT = _NotConstant()


@dataclass(frozen=True)
class CallSite:
    """One call of a method, and what it passes for one argument."""

    caller: str  # "<top>.forward"
    callee: str  # "head.forward": the instance called, and the method
    source: str | None  # file:line of the call
    value: object  # the constant passed, or NOT_CONSTANT

    def __str__(self) -> str:
        where = f" at {self.source}" if self.source else ""
        return f"{self.caller} passes {self.value!r} to {self.callee}{where}"


def self_attributes(names: Iterable[str]) -> str:
    """``("p", "training")`` -> ``"self.p, self.training"``, as messages name them."""
    return ", ".join(f"self.{name}" for name in names)


def fold_constant_branches(
    model: torch.jit.ScriptModule,
    attributes: Iterable[str] = ("training",),
    arguments: bool = True,
    *,
    method_name: str = "forward",
) -> torch.jit.ScriptModule:
    """A copy of ``model`` where what is fixed in the model you quantize is a constant, and
    the branches on it are folded away.

    - Reads of these ``self`` attributes (bool, int, float or str) become their values;
      every instance of a class type must hold the same value, since they share one graph.
      A function call given one of them is inlined, so that branches inside fold too.
    - With ``arguments``, a method's argument that every call reached from ``method_name``
      passes as the same constant (a bool, int, float, str or None, defaults included)
      becomes that constant. Calls are followed through every method reached, repeatedly,
      so a constant passed on through two levels of calls folds too. A function call given
      a constant that a branch inside it depends on is inlined. An argument that calls
      pass differently is left alone.

    Constant propagation then removes the branches (``if self.training:``,
    ``x if pre_logits else self.fc(x)``) that make the pass fail with inconsistently
    observed branches. The copy computes what ``model`` computes when called through
    ``method_name``; a folded method called directly with another value would not. It
    shares ``model``'s parameters (its graphs, buffers and other attributes are its own).
    """
    folded, _ = fold(model, attributes, arguments, method_name)
    return wrap_cpp_module(folded)


def fold_attribute_branches(
    model: torch.jit.ScriptModule, attributes: Iterable[str] = ("training",)
) -> torch.jit.ScriptModule:
    """:func:`fold_constant_branches` with ``arguments=False``: only the attributes."""
    return fold_constant_branches(model, attributes, arguments=False)


def fold(
    model: torch.jit.ScriptModule,
    attributes: Iterable[str],
    arguments: bool,
    method_name: str = "forward",
) -> tuple[torch._C.ScriptModule, Folding]:
    """The folded copy (unwrapped) and the record of what was folded and what was not."""
    if not isinstance(model, torch.jit.ScriptModule):
        raise ObsvizError(
            f"fold_constant_branches takes a scripted model "
            f"(torch.jit.script(model.eval())), got {type(model).__name__}"
        )
    if arguments and not model._c._has_method(method_name):
        methods = ", ".join(model._c._method_names()) or "none"
        raise ObsvizError(
            f"{TOP}: the model has no method {method_name!r} to fold the calls "
            f"of (its methods: {methods})"
        )
    cloned = _clone_sharing_parameters(model._c)
    folding = Folding(cloned, FunctionResolver(model._c))
    folding.fold_attributes(set(attributes))
    if arguments:
        folding.fold_arguments(method_name)
    folding.remember()
    return cloned, folding


@dataclass
class Folding:
    """One fold of a cloned model: its graphs by class type, and what was folded."""

    root: torch._C.ScriptModule
    functions: FunctionResolver
    paths: dict[str, list[str]] = field(default_factory=dict)  # type -> instance paths
    modules: dict[str, torch._C.ScriptModule] = field(default_factory=dict)  # type -> one
    folded: dict[tuple[Key, int], ArgumentFold] = field(default_factory=dict)
    # (callee, argument position) -> the calls, for arguments left alone at the end
    unfolded: dict[tuple[Key, int], tuple[CallSite, ...]] = field(default_factory=dict)
    notes: dict[Key, list[str]] = field(default_factory=dict)
    _branching: dict[str, set[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for path, module in named_modules(self.root):
            type_name = module._type().qualified_name()
            self.paths.setdefault(type_name, []).append(path)
            self.modules.setdefault(type_name, module)

    def label(self, key: Key) -> str:
        return method_label(self.paths[key[0]][0], key[1])

    def _called(self, caller: Key, call: torch._C.Node, callee: Key) -> str:
        """The instance a call in ``caller``'s graph runs, and the method."""
        names, root = access_path(call.inputsAt(0))
        caller_graph = self.graph(caller)
        if root.unique() != next(caller_graph.inputs()).unique():
            return self.label(callee)
        path = join_path(self.paths[caller[0]][0], names)
        return method_label(path, callee[1])

    def graph(self, key: Key) -> torch._C.Graph:
        return self.modules[key[0]]._get_method(key[1]).graph

    def type_at(self, module_path: str) -> str | None:
        return next((t for t, paths in self.paths.items() if module_path in paths), None)

    # ------------------------------------------------------------------ attributes
    def fold_attributes(self, names: set[str]) -> None:
        if not names:
            return
        values_by_type, problems = _attribute_values(named_modules(self.root), names)
        if problems:
            raise ObsvizError(next(iter(problems.values())))
        found = {name for values in values_by_type.values() for name in values}
        missing = sorted(names - found)
        if missing:
            raise ObsvizError(
                f"no module of the model has an attribute {missing[0]!r} to "
                "fold (attributes are the names modules read as self.<name>)"
            )
        for type_name, module in self.modules.items():
            folded = values_by_type.get(type_name, {})
            for method in module._method_names():
                self._fold_attributes_in((type_name, method), folded)

    def _fold_attributes_in(self, key: Key, folded: dict[str, object]) -> None:
        graph = self.graph(key)
        ifs_before = _count_ifs(graph)
        self_unique = next(graph.inputs()).unique()
        read: dict[str, object] = {}
        calls_given_constants: list[torch._C.Node] = []
        for node in list(walk_nodes(graph.block())):
            if node.kind() != "prim::GetAttr" or node.s("name") not in folded:
                continue
            if node.inputsAt(0).unique() != self_unique:
                continue
            read[node.s("name")] = folded[node.s("name")]
            constant = graph.insertConstant(folded[node.s("name")])
            constant.node().moveBefore(node)
            node.output().replaceAllUsesWith(constant)
            node.destroy()
            calls_given_constants += [
                use.user for use in constant.uses() if use.user.kind() == "prim::CallFunction"
            ]
        for call in dict.fromkeys(calls_given_constants):
            _inline_function_call(graph, call, self.functions)
        _propagate(graph)
        if _count_ifs(graph) < ifs_before:
            values = ", ".join(f"self.{name} is {value!r}" for name, value in read.items())
            self.note(
                key,
                f"{values} here, and the branches on "
                f"{'it were' if len(read) == 1 else 'them were'} folded away",
            )

    # ------------------------------------------------------------------ arguments
    def fold_arguments(self, method_name: str) -> None:
        """Fold arguments every call passes alike, until no call changes."""
        entry = (self.root._type().qualified_name(), method_name)
        settled: set[tuple[Key, int]] = set()
        while True:
            graphs, calls = self._reach(entry)
            changed = self._inline_branching_calls(graphs)
            self.unfolded = {}
            for callee, sites in calls.items():
                changed |= self._fold_arguments_of(callee, sites, settled)
            if not changed:
                return
            for key in changed:
                _propagate(graphs[key])

    def _reach(
        self, entry: Key
    ) -> tuple[dict[Key, torch._C.Graph], dict[Key, list[tuple[Key, torch._C.Node]]]]:
        """The method graphs reached from ``entry``, and each one's calls (caller, node)."""
        graphs: dict[Key, torch._C.Graph] = {}
        calls: dict[Key, list[tuple[Key, torch._C.Node]]] = {}
        through_interface: set[str] = set()
        queue = deque([entry])
        while queue:
            key = queue.popleft()
            if key in graphs:
                continue
            graphs[key] = self.graph(key)
            for node in _nodes_and_fork_bodies(graphs[key].block()):
                if node.kind() != "prim::CallMethod":
                    continue
                module_type = node.inputsAt(0).type()
                if module_type.kind() == "InterfaceType":
                    through_interface.add(node.s("name"))
                elif (
                    module_type.kind() == "ClassType"
                    and module_type.qualified_name() in self.modules
                ):
                    callee = (module_type.qualified_name(), node.s("name"))
                    calls.setdefault(callee, []).append((key, node))
                    queue.append(callee)
        # a method called through an interface may be any module's: none of those folds
        return graphs, {
            callee: sites for callee, sites in calls.items() if callee[1] not in through_interface
        }

    def _fold_arguments_of(
        self, callee: Key, sites: list[tuple[Key, torch._C.Node]], settled: set[tuple[Key, int]]
    ) -> set[Key]:
        graph = self.graph(callee)
        changed: set[Key] = set()
        for index, parameter in enumerate(graph.inputs()):
            if index == 0 or (callee, index) in settled or not parameter.uses():
                continue
            passed = [_constant_passed(node.inputsAt(index)) for _, node in sites]
            first = passed[0]
            if (
                first is not NOT_CONSTANT
                and all(_same(first, value) for value in passed)
                and _fits(first, parameter)
            ):
                parameter.replaceAllUsesWith(_constant_at_start(graph, first))
                settled.add((callee, index))
                name = argument_name(parameter)
                self.folded[(callee, index)] = ArgumentFold(self.label(callee), name, first)
                callers = ", ".join(dict.fromkeys(self.label(caller) for caller, _ in sites))
                self.note(
                    callee,
                    f"every call of {callee[1]} (from {callers}) passes "
                    f"{name}={first!r}, so it is that constant here and what "
                    "depended on it was folded away",
                )
                changed.add(callee)
            else:
                self.unfolded[(callee, index)] = tuple(
                    CallSite(
                        self.label(caller),
                        self._called(caller, node, callee),
                        source_line(node),
                        value,
                    )
                    for (caller, node), value in zip(sites, passed, strict=True)
                )
        return changed

    def _inline_branching_calls(self, graphs: dict[Key, torch._C.Graph]) -> set[Key]:
        """Inline the function calls given a constant that a branch inside depends on."""
        changed: set[Key] = set()
        for key, graph in graphs.items():
            for node in [n for n in walk_nodes(graph.block()) if user_defined_call_function(n)]:
                body, qualified = self.functions(node)
                if qualified.startswith(TORCH_FUNCTIONS):
                    continue
                inputs = list(body.inputs())
                given = {
                    argument_name(inputs[index]): _constant_passed(node.inputsAt(index + 1))
                    for index in self._branching_parameters(body, qualified)
                }
                given = {name: value for name, value in given.items() if value is not NOT_CONSTANT}
                if not given:
                    continue
                _inline_function_call(graph, node, self.functions)
                passed = ", ".join(f"{name}={value!r}" for name, value in given.items())
                self.note(
                    key,
                    f"the call {qualified.rsplit('.', 1)[-1]}({passed}) was "
                    "inlined here, and its branches on that folded away",
                )
                changed.add(key)
        return changed

    def _branching_parameters(self, graph: torch._C.Graph, qualified: str) -> set[int]:
        """Positions of a function's inputs that a branch inside it (or inside a function
        it calls) depends on."""
        if qualified not in self._branching:
            conditions = []
            for node in walk_nodes(graph.block()):
                if node.kind() == "prim::If":
                    conditions.append(node.inputsAt(0))
                elif user_defined_call_function(node):
                    body, inner = self.functions(node)
                    if inner.startswith(TORCH_FUNCTIONS):
                        continue
                    conditions += [
                        node.inputsAt(index + 1)
                        for index in self._branching_parameters(body, inner)
                    ]
            self._branching[qualified] = parameters_behind(conditions, graph)
        return self._branching[qualified]

    # ------------------------------------------------------------------ the record
    def note(self, key: Key, text: str) -> None:
        self.notes.setdefault(key, []).append(text)

    def argument(
        self, module_path: str, method: str, index: int
    ) -> ArgumentFold | tuple[CallSite, ...] | None:
        """The fold of an argument of the method ``module_path`` runs, or the calls that
        kept it from folding (None: no call reached it)."""
        key = ((self.type_at(module_path) or ""), method)
        return self.folded.get((key, index)) or self.unfolded.get((key, index))

    def remember(self) -> None:
        """Keep the notes on the copy, for explanations of runs on it."""
        if not self.notes:
            return
        record = (
            json.loads(self.root.getattr(FOLDS_ATTRIBUTE))
            if self.root.hasattr(FOLDS_ATTRIBUTE)
            else []
        )
        record += [
            [self.paths[type_name], method, notes]
            for (type_name, method), notes in self.notes.items()
        ]
        text = json.dumps(record)
        if self.root.hasattr(FOLDS_ATTRIBUTE):
            self.root.setattr(FOLDS_ATTRIBUTE, text)
        else:
            self.root._register_attribute(FOLDS_ATTRIBUTE, torch._C.StringType.get(), text)


def fold_notes(model: torch.jit.ScriptModule | None, module_path: str, method: str) -> list[str]:
    """What :func:`fold_constant_branches` folded in the method ``module_path`` runs."""
    if model is None or not model._c.hasattr(FOLDS_ATTRIBUTE):
        return []
    return [
        f"folded by obsviz.fold_constant_branches: {note}"
        for paths, folded_method, notes in json.loads(model._c.getattr(FOLDS_ATTRIBUTE))
        if folded_method == method and module_path in paths
        for note in notes
    ]


def _attribute_values(
    instances: Iterable[tuple[str, torch._C.ScriptModule]], names: set[str]
) -> tuple[dict[str, dict[str, object]], dict[str, str]]:
    """The value of each named attribute per class type, and why any cannot be folded: a
    message per attribute whose value is not a scalar, or differs between instances
    sharing a type (and so a graph)."""
    values_by_type: dict[str, dict[str, object]] = {}
    problems: dict[str, str] = {}
    for path, module in instances:
        type_name = module._type().qualified_name()
        for name in sorted(names):
            if not module.hasattr(name):
                continue
            value = module.getattr(name)
            if not isinstance(value, FOLDABLE):
                problems.setdefault(
                    name,
                    f"{display_path(path)}.{name} is "
                    f"{type(value).__name__}; only bool, int, float and str "
                    "attributes can be folded",
                )
                continue
            seen = values_by_type.setdefault(type_name, {})
            if seen.setdefault(name, value) != value:
                class_name = type_name.rsplit(".", 1)[-1]
                problems.setdefault(
                    name,
                    f"{display_path(path)}.{name} is {value} but another "
                    f"{class_name} has {seen[name]}; they share one graph, "
                    "so the attribute cannot be folded",
                )
    return values_by_type, problems


def fold_problems(
    model: torch._C.ScriptModule, module_path: str | None, attributes: Iterable[str]
) -> dict[str, str]:
    """Why :func:`fold_constant_branches` cannot fold each of these attributes of the
    module at ``module_path``, or of any module for None (those missing from the result
    can be folded)."""
    if module_path is None:
        return _attribute_values(named_modules(model), set(attributes))[1]
    module = model
    for name in module_path.split(".") if module_path else ():
        if not module.hasattr(name):
            return {}  # a path of a clone the model lacks: nothing to check it against
        module = module.getattr(name)
    own_type = module._type()
    instances = [(path, m) for path, m in named_modules(model) if m._type() == own_type]
    return _attribute_values(instances, set(attributes))[1]


def _clone_sharing_parameters(root: torch._C.ScriptModule) -> torch._C.ScriptModule:
    """``root`` with class types of its own (whose graphs can change), sharing its
    parameters: a fold changes graphs, never weights, and copying ResNet-50's would take
    most of the time. Buffers and other attributes are copied.

    The clone is made from a copy of the module tree whose parameter slots hold an empty
    placeholder; the parameters are then put back into the clone.
    """
    placeholder = torch.empty(0)

    def without_parameters(module: torch._C.ScriptModule) -> torch._C.ScriptModule:
        copy = module.__copy__()  # a new object of the same type, sharing every slot
        for name, child in named_children(module):
            copy.setattr(name, without_parameters(child))
        for name, _ in _module_iterators(module)["named_parameters"]:
            copy.setattr(name, placeholder)
        return copy

    def put_back(original: torch._C.ScriptModule, clone: torch._C.ScriptModule) -> None:
        for name, parameter in _module_iterators(original)["named_parameters"]:
            clone.setattr(name, parameter)
        for name, child in named_children(original):
            put_back(child, clone.getattr(name))

    cloned = torch._C._hack_do_not_use_clone_module_with_class(without_parameters(root), [], [])
    put_back(root, cloned)
    return cloned


def _inline_function_call(
    graph: torch._C.Graph, call: torch._C.Node, functions: FunctionResolver
) -> None:
    """Replace ``call`` by a copy of the function's body, so that branches inside it
    on the folded arguments fold too (``stochastic_depth(x, self.p, ..., self.training)``).
    """
    body, _ = functions(call)
    with graph.insert_point_guard(call):
        outputs = graph.insertGraph(body, list(call.inputs())[1:])
    for old, new in zip(call.outputs(), outputs, strict=True):
        old.replaceAllUsesWith(new)
    call.destroy()


def _constant_passed(value: torch._C.Value) -> object:
    """The bool, int, float, str or None ``value`` always is, or NOT_CONSTANT."""
    if value.node().kind() != "prim::Constant":
        return NOT_CONSTANT
    if value.type().kind() == "NoneType":
        return None
    constant = value.toIValue()
    return constant if isinstance(constant, FOLDABLE) else NOT_CONSTANT


def _same(first: object, other: object) -> bool:
    return type(first) is type(other) and first == other


def _fits(constant: object, parameter: torch._C.Value) -> bool:
    """Whether a constant of this value can stand for the parameter in its graph."""
    if constant is None:
        return parameter.type().kind() in ("OptionalType", "NoneType")
    return not isinstance(parameter.type(), torch._C.TensorType)


def _constant_at_start(graph: torch._C.Graph, constant: object) -> torch._C.Value:
    first = next(graph.nodes(), None)
    if first is None:
        return graph.insertConstant(constant)
    with graph.insert_point_guard(first):
        return graph.insertConstant(constant)


def _propagate(graph: torch._C.Graph) -> None:
    torch._C._jit_pass_constant_propagation(graph)
    torch._C._jit_pass_dce(graph)


def _count_ifs(graph: torch._C.Graph) -> int:
    return sum(node.kind() == "prim::If" for node in walk_nodes(graph.block()))


def _nodes_and_fork_bodies(block: torch._C.Block) -> Iterator[torch._C.Node]:
    """Every node of a block, of its nested blocks and of the bodies of its forks."""
    for node in walk_nodes(block):
        yield node
        if node.kind() == "prim::fork":
            yield from _nodes_and_fork_bodies(node.g("Subgraph").block())
