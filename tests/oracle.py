"""The tests' own reading of an observed module, to compare obsviz with the real pass.

Written from what ``InsertObservers`` does (insert_observers.cpp), sharing no code with
obsviz: it reads graphs and class types through torch only. :func:`describe` turns an
observed module into plain data; :func:`differences` lists, in words, where two
descriptions disagree:

- the module interface: for every instance (observers included), its class type's name,
  methods, attributes and submodules, and which instances share one class type;
- per instance and method reached from the entry method, the graph's nodes other than
  observer calls (so a pass that changed something else shows);
- each observer call: the value it reads (a graph input's index, or the position of its
  producer among the non-observer nodes), that value's other uses (none, once
  ``replaceAllUsesWith`` rewired them), who reads the observer's output, and the
  observer it calls: its class and every attribute (dtype, qscheme, ch_axis,
  reduce_range, quant_min/quant_max, eps, its tensors);
- which observer attributes hold one and the same object.

The real pass numbers its ``_observer_N`` attributes in the order of a hash map, so an
observer is known by what it observes (``<observer of forward 4:0 (aten::conv2d)>``);
the numbers each instance holds are compared as a set.

The pass walks only the branches of an ``if`` that do not always raise, and no other
block (a loop body, say); where a shared class type's instance is called only in a block
it does not walk, the real pass leaves that instance's observer slots empty (reading
them crashes). Observer objects are therefore read only in the instances the pass walks
(:func:`walked_paths`); the graphs, which belong to the class type, are read for every
instance reached.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import torch

# the attributes script_with_types_of adds to tell instances' types apart
TYPE_MARKER = "_oracle_type_marker_"
# insertObserverFor names each observer attribute "_observer_" + a counter
OBSERVER_PREFIX = "_observer_"
_MANGLING = re.compile(r"___torch_mangle_\d+\.")
_NO_SLOT_READ = "(slot not read: instance not walked)"
_LABEL_START = "<observer of "


@torch.jit.script
def _dtype_code(dtype: torch.dtype) -> int:
    return dtype


@torch.jit.script
def _qscheme_code(qscheme: torch.qscheme) -> int:
    return qscheme


# TorchScript stores dtypes and qschemes as ints; their names, for the messages
_DTYPE_NAMES = {
    _dtype_code(d): str(d)
    for d in (
        torch.quint8,
        torch.qint8,
        torch.qint32,
        torch.quint4x2,
        torch.float16,
        torch.float32,
        torch.float64,
        torch.bfloat16,
        torch.uint8,
        torch.int8,
        torch.int32,
        torch.int64,
    )
}
_QSCHEME_NAMES = {
    _qscheme_code(q): str(q)
    for q in (
        torch.per_tensor_affine,
        torch.per_tensor_symmetric,
        torch.per_channel_affine,
        torch.per_channel_symmetric,
        torch.per_channel_affine_float_qparams,
    )
}
# the observer settings a summary names (every attribute is compared)
_SUMMARY = ("dtype", "qscheme", "ch_axis", "reduce_range", "quant_min", "quant_max", "is_dynamic")


def type_name(jit_type: torch._C.ClassType) -> str:
    """A class type's qualified name without TorchScript's ``___torch_mangle_N``."""
    return _MANGLING.sub("", jit_type.qualified_name()).removeprefix("__torch__.")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _show(path: str) -> str:
    return path or "<top>"


# ------------------------------------------------------------------------------ interface


@dataclass(frozen=True)
class Interface:
    """What an instance's class type offers."""

    type_name: str
    methods: tuple[str, ...]
    attributes: tuple[str, ...]  # "name: Type", parameters marked
    submodules: tuple[str, ...]  # "name: Type"


def _interfaces(
    root: torch._C.ScriptModule, labels: dict[tuple[str, str], str]
) -> dict[str, tuple[str, Interface, str]]:
    """Per instance path: the instance holding it (itself, unless it is an observer), its
    interface, and its class type's exact name; read from the types alone (no attribute
    slot is read). Observer attributes are named by ``labels`` (type, attribute)."""
    found: dict[str, tuple[str, Interface, str]] = {}

    def visit(concrete: torch.ConcreteModuleType, path: str, owner: str) -> None:
        jit_type = concrete.jit_type
        children = [
            (labels.get((jit_type.qualified_name(), name), name), child)
            for name, child in concrete.get_modules()
        ]
        attributes = sorted(
            f"{name}: {_MANGLING.sub('', str(attr_type))}{' (parameter)' * is_param}"
            for name, (attr_type, is_param) in concrete.get_attributes().items()
            if not name.startswith(TYPE_MARKER)
        )
        interface = Interface(
            type_name=type_name(jit_type),
            methods=tuple(sorted(jit_type.method_names())),
            attributes=tuple(attributes),
            submodules=tuple(
                sorted(f"{name}: {type_name(child.jit_type)}" for name, child in children)
            ),
        )
        found[path] = (owner, interface, jit_type.qualified_name())
        for name, child in children:
            child_path = _join(path, name)
            visit(child, child_path, path if _is_observer(name) else child_path)

    visit(torch.ConcreteModuleType.from_jit_type(root._type()), "", "")
    return found


# ---------------------------------------------------------------------------------- graphs


def _is_observer_attribute(name: str) -> bool:
    return name.startswith(OBSERVER_PREFIX)


def _is_observer(name: str) -> bool:
    """An observer attribute, by its name or by the label :func:`describe` gives it."""
    return _is_observer_attribute(name) or name.startswith(_LABEL_START)


def _module_path(value: torch._C.Value) -> tuple[list[str], torch._C.Value]:
    """The attribute names of a chain of ``prim::GetAttr`` ending in ``value``, and the
    value the chain starts from."""
    names: list[str] = []
    while value.node().kind() == "prim::GetAttr":
        names.insert(0, value.node().s("name"))
        value = value.node().inputsAt(0)
    return names, value


def _observer_called(node: torch._C.Node, self_value: torch._C.Value) -> str | None:
    """The observer attribute a node reads or calls on ``self``, if it does."""
    if node.kind() == "prim::GetAttr":
        names, start = _module_path(node.output())
    elif node.kind() == "prim::CallMethod":
        names, start = _module_path(node.inputsAt(0))
    else:
        return None
    if (
        start.unique() == self_value.unique()
        and len(names) == 1
        and _is_observer_attribute(names[0])
    ):
        return names[0]
    return None


@dataclass
class _Positions:
    """Where values and nodes sit once observer nodes are left out."""

    values: dict[int, str] = field(default_factory=dict)  # value -> "input1" / "4:0"
    nodes: dict[torch._C.Node, str] = field(default_factory=dict)  # node -> "4" / "4.0.return"
    kinds: list[str] = field(default_factory=list)  # "4 aten::conv2d", in order


def _positions(graph: torch._C.Graph, self_value: torch._C.Value) -> _Positions:
    found = _Positions()

    def visit(block: torch._C.Block, prefix: str) -> None:
        for i, value in enumerate(block.inputs()):
            found.values[value.unique()] = f"{prefix}input{i}"
        index = 0
        for node in block.nodes():
            if _observer_called(node, self_value) is not None:
                continue
            position = f"{prefix}{index}"
            found.nodes[node] = position
            found.kinds.append(f"{position} {node.kind()}")
            for value in node.outputs():
                found.values[value.unique()] = f"{position}:{value.offset()}"
            for b, sub in enumerate(node.blocks()):
                visit(sub, f"{position}.{b}.")
            index += 1
        found.nodes[block.returnNode()] = f"{prefix}return"

    visit(graph.block(), "")
    return found


def _always_raises(block: torch._C.Block) -> bool:
    """``alwaysRaisesException``: the block raises, or holds an ``if`` all of whose
    branches do."""
    return any(
        node.kind() == "prim::RaiseException"
        or (node.kind() == "prim::If" and all(_always_raises(b) for b in node.blocks()))
        for node in block.nodes()
    )


def _walk_nodes(block: torch._C.Block, as_the_pass: bool) -> Iterator[torch._C.Node]:
    """Every node of ``block`` and of the blocks it holds; ``as_the_pass``, only those
    ``insertObserversFor`` visits: it enters the branches of an ``if`` that do not always
    raise, and no other block (loop bodies, ``with``, closures)."""
    for node in block.nodes():
        yield node
        for sub in node.blocks():
            if not as_the_pass or (node.kind() == "prim::If" and not _always_raises(sub)):
                yield from _walk_nodes(sub, as_the_pass)


def _calls(
    root: torch._C.ScriptModule, method_name: str, as_the_pass: bool
) -> dict[tuple[str, str], torch._C.ScriptModule]:
    """Every (instance path, method) called from ``method_name`` on ``root``, with the
    instance; ``as_the_pass`` gives those the pass walks (see :func:`_walk_nodes`)."""
    reached: dict[tuple[str, str], torch._C.ScriptModule] = {}

    def visit(module: torch._C.ScriptModule, path: str, method: str) -> None:
        if (path, method) in reached:
            return
        reached[(path, method)] = module
        graph = module._get_method(method).graph
        self_value = next(graph.inputs())
        for node in _walk_nodes(graph.block(), as_the_pass):
            if node.kind() != "prim::CallMethod" or _observer_called(node, self_value):
                continue
            names, start = _module_path(node.inputsAt(0))
            if start.unique() != self_value.unique():
                continue
            target = module
            for name in names:
                target = target.getattr(name)
            if not isinstance(target, torch._C.ScriptModule):
                continue  # a method of a TorchScript object, not of a submodule
            visit(target, ".".join([path, *names]).strip("."), node.s("name"))

    visit(root, "", method_name)
    return reached


# ------------------------------------------------------------------------------- observers


def _attribute_text(name: str, value: object) -> str:
    if isinstance(value, torch.Tensor):
        values = value.detach().flatten()
        content = (
            str(values.tolist())
            if values.numel() <= 4
            else hashlib.sha1(values.numpy().tobytes()).hexdigest()[:10]
        )
        return f"tensor({str(value.dtype).removeprefix('torch.')}, {list(value.shape)}, {content})"
    if name == "dtype" and isinstance(value, int):
        return _DTYPE_NAMES.get(value, str(value))
    if name == "qscheme" and isinstance(value, int):
        return _QSCHEME_NAMES.get(value, str(value))
    return repr(value)


def observer_settings(observer: torch._C.ScriptModule) -> tuple[tuple[str, str], ...]:
    """Every attribute of an observer, as text, sorted by name."""
    attributes = torch._C._jit_debug_module_iterators(observer)["named_attributes"]
    return tuple(sorted((name, _attribute_text(name, value)) for name, value in attributes))


@dataclass(frozen=True)
class Site:
    """One observer call: where it is, what it reads, who reads its output, what it is."""

    path: str  # the instance
    method: str
    reads: str  # "input1 (graph input)" or "4:0 (aten::conv2d)"
    observer: str  # the attribute called (its number depends on hash order: not compared)
    observer_class: str
    settings: tuple[tuple[str, str], ...] | None  # None where the slot was not read
    value_uses: tuple[str, ...]  # uses of the observed value besides its observer call
    output_uses: tuple[str, ...]  # uses of the observer's output

    @property
    def where(self) -> str:
        return f"{_show(self.path)}.{self.method}"

    @property
    def label(self) -> str:
        """The observer attribute's name for comparisons: the real pass numbers observers
        in the order of an ``unordered_map<Value*, Module>``, so by what it observes."""
        return f"{_LABEL_START}{self.method} {self.reads}>"

    @property
    def key(self) -> tuple[str, str]:
        return (self.where, self.reads)

    def summary(self) -> str:
        if self.settings is None:
            return f"{self.observer} {self.observer_class} {_NO_SLOT_READ}"
        named = dict(self.settings)
        shown = ", ".join(f"{name}={named[name]}" for name in _SUMMARY if name in named)
        return f"{self.observer} {self.observer_class}({shown})"


def _uses(
    value: torch._C.Value,
    positions: _Positions,
    self_value: torch._C.Value,
    skip: torch._C.Node | None = None,
) -> tuple[str, ...]:
    described = []
    for use in value.uses():
        if use.user is skip:
            continue
        observer = _observer_called(use.user, self_value)
        where = (
            "an observer call"
            if observer
            else f"{positions.nodes.get(use.user, '?')} {use.user.kind()}"
        )
        described.append(f"{where} input {use.offset}")
    return tuple(sorted(described))


def _producer(node: torch._C.Node) -> str:
    """A value's producer for people: the op, and what a call calls."""
    if node.kind() == "prim::Param":
        return "graph input"
    if node.kind() == "prim::CallFunction":
        function = node.inputsAt(0).node()  # a prim::Constant naming the function
        name = function.s("name") if function.hasAttribute("name") else "?"
        return f"prim::CallFunction {name.rsplit('.', 1)[-1]}"
    if node.kind() == "prim::CallMethod":
        names, _ = _module_path(node.inputsAt(0))
        callee = type_name(node.inputsAt(0).type()).rsplit(".", 1)[-1]
        return f"prim::CallMethod {'.'.join([*names, node.s('name')])} of {callee}"
    if node.kind() == "prim::GetAttr":
        return f"prim::GetAttr {node.s('name')}"
    return node.kind()


def _sites(
    module: torch._C.ScriptModule,
    path: str,
    method: str,
    read_slots: bool,
    positions: _Positions,
    graph: torch._C.Graph,
) -> Iterator[Site]:
    self_value = next(graph.inputs())
    for node in graph.findAllNodes("prim::CallMethod", True):
        observer = _observer_called(node, self_value)
        if observer is None:
            continue
        value = node.inputsAt(1)
        producer = value.node()
        reads = positions.values.get(value.unique())
        if reads is None:
            reads = "the output of an observer call"
        yield Site(
            path=path,
            method=method,
            reads=f"{reads} ({_producer(producer)})",
            observer=observer,
            observer_class=type_name(node.inputsAt(0).type()),
            settings=observer_settings(module.getattr(observer)) if read_slots else None,
            value_uses=_uses(value, positions, self_value, skip=node),
            output_uses=_uses(node.output(), positions, self_value),
        )


# ------------------------------------------------------------------------------ describe


@dataclass
class Observed:
    """An observed module as plain data (see the module docstring). Observer attributes
    are named by what they observe (:attr:`Site.label`)."""

    interfaces: dict[str, Interface]  # instance path -> its class type's interface
    exact_types: dict[str, str]  # instance path -> its class type's exact name
    observer_names: dict[str, tuple[str, ...]]  # instance path -> its observer attributes
    graphs: dict[tuple[str, str], tuple[str, ...]]  # (path, method) -> non-observer nodes
    sites: list[Site]
    objects: dict[str, int]  # "<path>.<observer label>" -> the object's identity
    module: torch._C.ScriptModule  # keeps the objects alive while identities are compared


def walked_paths(
    module: torch.jit.ScriptModule | torch._C.ScriptModule, method_name: str = "forward"
) -> set[str]:
    """The paths of the instances the pass walks from ``method_name`` (in an observed
    module, where calls through ``fork`` are inlined)."""
    root = module._c if isinstance(module, torch.jit.ScriptModule) else module
    return {path for path, _ in _calls(root, method_name, as_the_pass=True)}


def comparable_paths(
    ours: torch.jit.ScriptModule | torch._C.ScriptModule,
    real: torch.jit.ScriptModule | torch._C.ScriptModule,
    method_name: str = "forward",
) -> set[str]:
    """The instances on which to compare ``ours`` with the real pass's module for the
    model scripted without type sharing: those both walk. (Where obsviz keeps a type
    shared, a twin called only in a loop is walked in neither.)"""
    return walked_paths(ours, method_name) & walked_paths(real, method_name)


def prepared_paths(
    model: torch.jit.ScriptModule | torch._C.ScriptModule, method_name: str = "forward"
) -> set[str]:
    """The instances whose graphs the pass prepares (``preprocess``: inlining forks,
    fusing linear, ...) when run on ``model``: it follows the calls each graph shows
    before it inlines that graph's forks, so an instance called only through ``fork``,
    and what only it calls, keep their graphs as scripted."""
    root = model._c if isinstance(model, torch.jit.ScriptModule) else model
    return {path for path, _ in _calls(root, method_name, as_the_pass=False)}


def twins_left_unprepared(
    ours: torch.jit.ScriptModule | torch._C.ScriptModule,
    real: torch.jit.ScriptModule | torch._C.ScriptModule,
    model: torch.jit.ScriptModule | torch._C.ScriptModule,
    method_name: str = "forward",
) -> set[str]:
    """Instances the real pass walks in ``real`` without having prepared them in
    ``model`` (scripted without type sharing), whose class type ``ours`` shares with an
    instance it prepared.

    obsviz keeps such an instance's type shared with that twin, so it gets the graph the
    twin got, prepared and observed, as with the real pass on a model it does not split;
    the observers in and around it then differ from those of the unshared model, and
    the two cannot be compared."""
    our_root = ours._c if isinstance(ours, torch.jit.ScriptModule) else ours
    our_types = {path: module._type().qualified_name() for path, module in _instances(our_root)}
    prepared = prepared_paths(model, method_name)
    prepared_types = {our_types.get(path) for path in prepared}
    return {
        path
        for path in walked_paths(real, method_name) - prepared
        if our_types.get(path) in prepared_types
    }


def describe(
    module: torch.jit.ScriptModule | torch._C.ScriptModule,
    method_name: str = "forward",
    paths: Iterable[str] | None = None,
) -> Observed:
    """The description of ``module`` observed for ``method_name``; with ``paths``, only
    those instances (and the observers they hold) are described."""
    root = module._c if isinstance(module, torch.jit.ScriptModule) else module
    keep = set(paths) if paths is not None else None
    walked = walked_paths(root, method_name)
    graphs: dict[tuple[str, str], tuple[str, ...]] = {}
    sites: list[Site] = []
    labels: dict[tuple[str, str], str] = {}
    called: dict[str, set[str]] = defaultdict(set)  # observer attributes each instance calls
    for (path, method), instance in _calls(root, method_name, as_the_pass=False).items():
        graph = instance._get_method(method).graph
        positions = _positions(graph, next(graph.inputs()))
        found = list(_sites(instance, path, method, path in walked, positions, graph))
        if path in walked:
            called[path].update(site.observer for site in found)
        for site in found:
            labels.setdefault((instance._type().qualified_name(), site.observer), site.label)
        if keep is None or path in keep:
            graphs[(path, method)] = tuple(positions.kinds)
            sites += found
    instances = {
        path: entry
        for path, entry in _interfaces(root, labels).items()
        if keep is None or entry[0] in keep
    }
    objects: dict[str, int] = {}
    observer_names: dict[str, tuple[str, ...]] = {}
    for path, instance in _instances(root):
        if keep is not None and path not in keep:
            continue
        concrete = torch.ConcreteModuleType.from_jit_type(instance._type())
        names = [name for name, _ in concrete.get_modules() if _is_observer_attribute(name)]
        observer_names[path] = tuple(sorted(names))
        # the pass fills only the slots of the methods it walks on an instance; others of
        # its shared type may be empty, and reading an empty slot crashes
        for name in names:
            if name not in called[path]:
                continue
            label = labels.get((instance._type().qualified_name(), name), name)
            objects[f"{_show(path)}.{label}"] = hash(instance.getattr(name))
    return Observed(
        interfaces={path: entry[1] for path, entry in instances.items()},
        exact_types={path: entry[2] for path, entry in instances.items()},
        observer_names=observer_names,
        graphs=graphs,
        sites=sorted(sites, key=lambda s: s.key),
        objects=objects,
        module=root,
    )


def _instances(root: torch._C.ScriptModule) -> Iterator[tuple[str, torch._C.ScriptModule]]:
    """Every module instance but the observers, whose slots are not read here."""
    stack = [("", root)]
    while stack:
        path, module = stack.pop()
        yield path, module
        for name, _ in torch.ConcreteModuleType.from_jit_type(module._type()).get_modules():
            if not _is_observer_attribute(name):
                stack.append((_join(path, name), module.getattr(name)))


def script_with_types_of(
    model: torch.nn.Module, observed: torch.jit.ScriptModule | torch._C.ScriptModule
) -> torch.jit.ScriptModule:
    """``model`` (fresh, unscripted) scripted so that its instances share class types
    exactly where those of ``observed`` do: instances of one Python class that
    ``observed`` gives different types get a marker attribute each (an attribute of its
    own name per type), which TorchScript's type sharing tells apart. The real pass on
    it needs no split, so it says what a split must give, instance by instance; the
    markers are left out of every interface compared."""
    root = observed._c if isinstance(observed, torch.jit.ScriptModule) else observed
    types = {path: module._type().qualified_name() for path, module in _instances(root)}
    indices: dict[type, dict[str, int]] = defaultdict(dict)
    for path, module in model.named_modules():
        if path in types:
            groups = indices[type(module)]
            index = groups.setdefault(types[path], len(groups))
            if index:
                setattr(module, f"{TYPE_MARKER}{index}", 0)
    return torch.jit.script(model)


# ----------------------------------------------------------------------------- differences


def _listing(items: Iterable[str]) -> str:
    return ", ".join(items) or "-"


def _only(real: Iterable[str], ours: Iterable[str]) -> str:
    real, ours = list(real), list(ours)
    return (
        f"only the real pass: {_listing(x for x in real if x not in ours)}; "
        f"only obsviz: {_listing(x for x in ours if x not in real)}"
    )


def _interface_differences(real: dict[str, Interface], ours: dict[str, Interface]) -> Iterator[str]:
    for path in sorted(real.keys() | ours.keys()):
        mine, theirs = ours.get(path), real.get(path)
        if mine is None or theirs is None:
            present = theirs or mine
            assert present is not None
            side = "the real pass's" if mine is None else "obsviz's"
            yield f"instance {_show(path)} ({present.type_name}) is only in {side} module"
            continue
        head = f"instance {_show(path)} ({theirs.type_name})"
        if mine.type_name != theirs.type_name:
            yield f"{head}: obsviz's is of type {mine.type_name}"
        for what in ("methods", "attributes", "submodules"):
            a, b = getattr(theirs, what), getattr(mine, what)
            if a != b:
                yield f"{head}: {what} differ, {_only(a, b)}"


def _groups(keys: dict[str, object], common: set[str]) -> dict[str, tuple[str, ...]]:
    """For each key in ``common``, the keys in ``common`` mapped to the same thing."""
    by_value: dict[object, list[str]] = defaultdict(list)
    for key in sorted(common):
        by_value[keys[key]].append(key)
    return {key: tuple(by_value[keys[key]]) for key in common}


def _sharing_differences(
    real: dict[str, object], ours: dict[str, object], what: str
) -> Iterator[str]:
    common = real.keys() & ours.keys()
    real_groups, our_groups = _groups(real, common), _groups(ours, common)
    mentioned: set[str] = set()

    def said(group: tuple[str, ...]) -> str:
        article = "an" if what[0] in "aeiou" else "a"
        return (
            f"{_show(group[0])} has {article} {what} of its own"
            if len(group) == 1
            else f"{', '.join(_show(key) for key in group)} share one {what}"
        )

    for key in sorted(common):
        if real_groups[key] == our_groups[key] or key in mentioned:
            continue
        mentioned.update(real_groups[key], our_groups[key])
        yield (
            f"in the real pass's module {said(real_groups[key])}; "
            f"in obsviz's {said(our_groups[key])}"
        )


def _observer_name_differences(
    real: dict[str, tuple[str, ...]], ours: dict[str, tuple[str, ...]]
) -> Iterator[str]:
    for path in sorted(real.keys() & ours.keys()):
        if real[path] != ours[path]:
            yield (
                f"instance {_show(path)}: observer attribute names differ, "
                f"{_only(real[path], ours[path])}"
            )


def _graph_differences(
    real: dict[tuple[str, str], tuple[str, ...]],
    ours: dict[tuple[str, str], tuple[str, ...]],
    unshared_only: set[str],
) -> Iterator[str]:
    for key in sorted(real.keys() | ours.keys()):
        where = f"{_show(key[0])}.{key[1]}"
        if key not in ours or key not in real:
            side = "the real pass" if where in real else "obsviz"
            yield f"{where} is reached only in {side}'s module"
            continue
        a, b = real[key], ours[key]
        if a == b or key[0] in unshared_only:
            continue
        pairs = enumerate(zip(a, b, strict=False))
        first = next((i for i, (x, y) in pairs if x != y), min(len(a), len(b)))
        yield (
            f"{where}: the nodes other than observer calls differ from node {first} on: "
            f"real {a[first] if first < len(a) else 'end'!r}, "
            f"obsviz {b[first] if first < len(b) else 'end'!r} "
            f"({len(a)} and {len(b)} nodes)"
        )


def _site_differences(real: list[Site], ours: list[Site]) -> Iterator[str]:
    real_by_key: dict[tuple[str, str], list[Site]] = defaultdict(list)
    our_by_key: dict[tuple[str, str], list[Site]] = defaultdict(list)
    for site in real:
        real_by_key[site.key].append(site)
    for site in ours:
        our_by_key[site.key].append(site)
    for key in sorted(real_by_key.keys() | our_by_key.keys()):
        theirs, mine = real_by_key.get(key, []), our_by_key.get(key, [])
        where, reads = key
        head = f"{where}: the observer of {reads}"
        if len(theirs) != len(mine):
            yield (
                f"{head}: the real pass calls {len(theirs)} "
                f"({_listing(s.summary() for s in theirs)}), obsviz {len(mine)} "
                f"({_listing(s.summary() for s in mine)})"
            )
            continue
        for a, b in zip(theirs, mine, strict=True):
            yield from _one_site_differences(head, a, b)


def _one_site_differences(head: str, real: Site, ours: Site) -> Iterator[str]:
    if real.observer_class != ours.observer_class:
        yield (
            f"{head}: is a {real.observer_class} in the real pass, a {ours.observer_class} "
            "in obsviz"
        )
    if real.settings is not None and ours.settings is not None and real.settings != ours.settings:
        a, b = dict(real.settings), dict(ours.settings)
        changed = [
            f"{name} {a.get(name, '-')} vs {b.get(name, '-')}"
            for name in sorted(a.keys() | b.keys())
            if a.get(name) != b.get(name)
        ]
        yield f"{head}: settings differ (real vs obsviz): {'; '.join(changed)}"
    if real.value_uses != ours.value_uses:
        yield (
            f"{head}: other uses of the observed value: real {_listing(real.value_uses)}; "
            f"obsviz {_listing(ours.value_uses)} (later uses must read the observer's "
            "output)"
        )
    if real.output_uses != ours.output_uses:
        yield (
            f"{head}: uses of the observer's output: real {_listing(real.output_uses)}; "
            f"obsviz {_listing(ours.output_uses)}"
        )


def differences(real: Observed, ours: Observed, *, same_type_sharing: bool = True) -> list[str]:
    """Where ``ours`` differs from ``real``, one sentence each (empty when they agree).

    ``same_type_sharing=False`` (for a real pass run on the model scripted without type
    sharing) leaves out which instances share a class type, the observer attributes'
    numbers, which count one graph per class type, and the non-observer nodes of the
    graphs of instances sharing their type in ``ours``: the pass prepares a graph for the
    first instance reaching it (inlining its fork calls, say), and a twin reached only
    through a fork gets it prepared, as with the real pass on a model it does not split."""
    found = list(_interface_differences(real.interfaces, ours.interfaces))
    shared_in_ours: set[str] = set()
    if same_type_sharing:
        found += _sharing_differences(real.exact_types, ours.exact_types, "class type")
        found += _observer_name_differences(real.observer_names, ours.observer_names)
    else:
        # such an instance's graphs were prepared (fork calls inlined, ...) as its twin's
        instances = Counter(ours.exact_types.values())
        shared_in_ours = {path for path, name in ours.exact_types.items() if instances[name] > 1}
    found += _graph_differences(real.graphs, ours.graphs, shared_in_ours)
    found += _site_differences(real.sites, ours.sites)
    found += _sharing_differences(real.objects, ours.objects, "observer object")
    return found


def assert_same_as_real(
    ours: torch.jit.ScriptModule | torch._C.ScriptModule,
    real: torch.jit.ScriptModule | torch._C.ScriptModule,
    method_name: str = "forward",
    *,
    paths: Iterable[str] | None = None,
    same_type_sharing: bool = True,
    limit: int = 30,
) -> Observed:
    """Fail, listing the differences, unless obsviz's module is observed as the real
    pass's; returns the description of obsviz's module."""
    mine = describe(ours, method_name, paths)
    found = differences(
        describe(real, method_name, paths), mine, same_type_sharing=same_type_sharing
    )
    if found:
        more = f"\n  ... and {len(found) - limit} more" if len(found) > limit else ""
        raise AssertionError(
            "obsviz's observed module differs from the real pass's:\n  "
            + "\n  ".join(found[:limit])
            + more
        )
    return mine
