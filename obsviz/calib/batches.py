"""Feeding batches to a scripted method: argument tuples, progress bars, and errors that
name the batch, the method and what the method expected."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from ..errors import ObsvizError
from ..refs import method_label


def as_args(batch: object) -> tuple:
    """One batch as the method's positional arguments: a tuple or list is spread, anything
    else (usually a tensor) is the only argument."""
    return tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)


def describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        shape = "x".join(map(str, value.shape)) or "scalar"
        return f"Tensor {shape} {str(value.dtype).removeprefix('torch.')}"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(describe(v) for v in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    return type(value).__name__


def signature(module: torch.jit.ScriptModule, method: str) -> str:
    """``forward(x: Tensor) -> Tensor``, as the method's schema declares it."""
    schema = module._c._get_method(method).schema
    arguments = ", ".join(f"{a.name}: {a.type.annotation_str}" for a in schema.arguments[1:])
    returns = ", ".join(r.type.annotation_str for r in schema.returns)
    return f"{method}({arguments}) -> {returns}"


def clone_args(args: tuple) -> tuple:
    """A copy of the tensors, so a model that changes its inputs in place cannot change the
    user's batch or the next pass over it."""
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)


class BatchRunner:
    """Calls one method of a module on batches, turning failures into ObsvizErrors."""

    def __init__(
        self,
        module: torch.jit.ScriptModule,
        method: str,
        *,
        what: str,
        describe_module: torch.jit.ScriptModule | None = None,
    ) -> None:
        self.module = module
        self.method = method
        self.what = what  # "calibration", "error", ... for messages
        self.call: Callable[..., Any] = getattr(module, method)
        self.expected = signature(describe_module or module, method)
        self.good: str | None = None  # how the first batch that ran looked

    def __call__(self, index: int, args: tuple) -> Any:
        try:
            # the interpreter as it is: profiling and optimizing a fresh copy of the graphs
            # costs more than it saves over a few batches
            with torch.no_grad(), torch.jit.optimized_execution(False):
                out = self.call(*args)
        except (RuntimeError, TypeError, ValueError, IndexError, torch.jit.Error) as err:
            first = str(err).strip().splitlines()
            reason = next((line for line in first if line.strip()), repr(err))
            seen = f"; earlier batches were {self.good}" if self.good else ""
            raise ObsvizError(
                f"{self.what}, batch {index}: {method_label('', self.method)} failed on "
                f"{describe(args)}: {reason.strip()}. The model expects {self.expected}"
                f"{seen}."
            ) from err
        if self.good is None:
            self.good = describe(args)
        return out


def progress(batches: Iterable, enabled: bool, description: str, unit: str = "batch") -> Iterator:
    if not enabled:
        yield from batches
        return
    from tqdm.auto import tqdm

    total = len(batches) if hasattr(batches, "__len__") else None
    yield from tqdm(batches, total=total, desc=description, unit=unit, leave=False)


def tensors_of(output: object) -> list[torch.Tensor]:
    """The float tensors in a method's output (a tensor, or tuples, lists and dicts of them)."""
    if isinstance(output, torch.Tensor):
        return [output] if output.is_floating_point() else []
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in tensors_of(item)]
    if isinstance(output, dict):
        return [t for item in output.values() for t in tensors_of(item)]
    return []
