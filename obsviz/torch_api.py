"""The torch API obsviz is built on: checked in one place, and scripted without noise.

obsviz ports TorchScript's graph-mode quantization (``prepare_jit``) and runs parts of it,
and PyTorch has announced the removal of ``torch.ao.quantization``. On a torch without that
API ``import obsviz`` still works, and every entry point raises an :class:`ObsvizError`
naming the torch versions obsviz supports (:func:`require_jit_quantization`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .errors import ObsvizError

try:
    from torch.ao import quantization
    from torch.ao.quantization import QConfig
except ImportError:  # torch without torch.ao.quantization: every entry point raises first
    quantization = None
    QConfig = None

SUPPORTED_TORCH = "2.2 to 2.14 (tested on 2.2.2, 2.8.0, 2.13.0 and 2.14.1)"

# The passes of torch/csrc/jit/passes/quantization that obsviz calls or checks itself against
JIT_QUANTIZATION_BINDINGS = (
    "_jit_pass_insert_observers",
    "_jit_pass_insert_observer_method_for_ondevice_ptq",
    "_jit_pass_fold_convbn",
    "_jit_pass_swap_functional_linear",
)


def missing_jit_quantization() -> list[str]:
    """The parts of torch's JIT quantization API this torch lacks (none on a supported one)."""
    missing = [
        f"torch._C.{name}" for name in JIT_QUANTIZATION_BINDINGS if not hasattr(torch._C, name)
    ]
    try:
        from torch.ao.quantization import quantize_jit  # noqa: F401
    except ImportError:
        missing.insert(0, "torch.ao.quantization.quantize_jit")
    return missing


def require_jit_quantization() -> None:
    """Raise an ObsvizError if this torch cannot run graph-mode quantization."""
    missing = missing_jit_quantization()
    if missing:
        raise ObsvizError(
            f"torch {torch.__version__} has no TorchScript graph-mode quantization "
            f"(missing: {', '.join(missing)}), which obsviz explains and runs. obsviz "
            f"supports torch {SUPPORTED_TORCH}: pip install 'torch>=2.2,<2.15'"
        )


# What torch warns on every call of its TorchScript API since 2.9 ("`torch.jit.script` is
# deprecated. ...", or "... is not supported in Python 3.14+ ..."), as a FutureWarning or
# DeprecationWarning by version: obsviz's own scripting is no news to its users.
TORCH_DEPRECATION = re.compile(r"`torch\.jit\.\w+` is (deprecated|not supported in Python)")


@contextmanager
def internal_scripting() -> Iterator[None]:
    """Silence torch's deprecation of TorchScript around obsviz's own calls into it.

    Only those messages: any other warning raised inside (a user's observer warning about
    its arguments, say) still reaches the user.
    """
    with warnings.catch_warnings():
        for category in (DeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", message=TORCH_DEPRECATION.pattern, category=category)
        yield
