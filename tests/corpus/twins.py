"""A function named like one in ``tests/corpus/functions.py`` but with another body.

Functions of one name in two modules are two TorchScript functions
(``__torch__.tests.corpus.functions.twin_helper`` and
``__torch__.tests.corpus.twins.twin_helper``);
the pass follows each call to its own graph. See ``CallsTwinHelpers`` in the corpus.
"""

from __future__ import annotations

import torch


def twin_helper(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(x)
