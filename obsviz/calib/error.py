"""``cal.error(batches)``: what quantizing each observed value costs, alone and together."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import torch

from ..errors import ObsvizError
from ..refs import method_label
from .batches import BatchRunner, as_args, clone_args, progress, tensors_of
from .simulate import FLOAT, QUANTIZED, REFERENCE, SIMULATE, Simulation

if TYPE_CHECKING:
    import pandas as pd

    from .calibration import Calibration


def sqnr_db(signal: float, noise: float) -> float:
    """Signal-to-quantization-noise ratio in dB: 10 log10(sum x^2 / sum (q - x)^2)."""
    if noise == 0:
        return math.inf if signal > 0 else math.nan
    if signal == 0:
        return -math.inf
    return 10 * math.log10(signal / noise)


@dataclass
class Agreement:
    """Streaming sums of squares comparing one output with another."""

    signal: float = 0.0
    noise: float = 0.0
    elements: int = 0

    def add(self, reference: object, other: object) -> None:
        ours, theirs = tensors_of(reference), tensors_of(other)
        if len(ours) != len(theirs):
            raise ObsvizError(
                f"the outputs differ in structure: {len(ours)} float tensors against {len(theirs)}"
            )
        for r, o in zip(ours, theirs, strict=True):
            r, o = r.detach().double(), o.detach().double()
            self.signal += float((r * r).sum())
            self.noise += float(((o - r) ** 2).sum())
            self.elements += r.numel()

    @property
    def sqnr_db(self) -> float:
        return sqnr_db(self.signal, self.noise)

    @property
    def mse(self) -> float:
        return self.noise / self.elements if self.elements else math.nan

    def __str__(self) -> str:
        return f"SQNR {self.sqnr_db:.2f} dB, MSE {self.mse:.3g} over {self.elements} elements"


def simulation_runner(cal: Calibration, what: str) -> BatchRunner:
    return BatchRunner(cal.simulation.module, cal.method, what=what, describe_module=cal.module)


class ErrorReport:
    """Per observed value: SQNR and MSE of quantizing it alone (local) and with every
    observer quantizing (accumulated); ``output``: the model output's SQNR."""

    def __init__(
        self, cal: Calibration, stats: dict[str, dict[str, float]], output: Agreement, batches: int
    ) -> None:
        self.calibration = cal
        self.stats = stats
        self.output = output
        self.batches = batches

    @cached_property
    def table(self) -> pd.DataFrame:
        """Worst first: lowest accumulated SQNR at the top."""
        import pandas as pd

        from .ranges import VALUE_COLUMNS, value_columns

        cal = self.calibration
        names = value_columns(cal)
        rows = []
        for site in cal.sites:
            s = self.stats.get(site.observer_path)
            if s is None:
                continue
            signal, local, accumulated, elements = (
                s[name] for name in ("signal", "local_error", "accumulated_error", "elements")
            )
            value = names.get((site.module_path, site.method, site.unique)) or [
                site.module_path,
                site.method,
                site.value,
                site.producer,
                site.graph,
                site.unique,
            ]
            ran = elements > 0
            rows.append(
                [
                    *value,
                    site.attribute,
                    site.role,
                    cal.state(site).config.kind(site.role),
                    sqnr_db(signal, local) if ran else math.nan,
                    local / elements if ran else math.nan,
                    sqnr_db(signal, accumulated) if ran else math.nan,
                    accumulated / elements if ran else math.nan,
                    int(elements),
                    int(s["diverged"]),
                ]
            )
        frame = pd.DataFrame(
            rows,
            columns=[
                *VALUE_COLUMNS,
                "observer",
                "role",
                "quantized_as",
                "sqnr_local_db",
                "mse_local",
                "sqnr_accumulated_db",
                "mse_accumulated",
                "elements",
                "diverged",
            ],
        )
        return frame.sort_values(
            "sqnr_accumulated_db", kind="stable", na_position="last"
        ).reset_index(drop=True)

    def against_converted(self, batches: Iterable, *, progress: bool = True) -> Comparison:
        """``convert_jit`` (or ``convert_dynamic_jit``) of a calibrated copy: its output
        against the float model's and against the simulation's."""
        return compare_with_converted(self.calibration, batches, show_progress=progress)

    def __repr__(self) -> str:
        return f"<obsviz ErrorReport over {self.batches} batches: model output {self.output}>"


@dataclass
class Comparison:
    """The converted model's output against the float model and the simulation."""

    converted_vs_float: Agreement
    simulated_vs_float: Agreement
    converted_vs_simulated: Agreement
    batches: int

    def __str__(self) -> str:
        return (
            f"over {self.batches} batches, output SQNR:\n"
            f"  converted vs float      {self.converted_vs_float.sqnr_db:7.2f} dB\n"
            f"  simulated vs float      {self.simulated_vs_float.sqnr_db:7.2f} dB\n"
            f"  converted vs simulated  {self.converted_vs_simulated.sqnr_db:7.2f} dB"
        )


def _outputs(
    simulation: Simulation, runner: BatchRunner, index: int, batch: object, modes: Iterable[int]
) -> list[object]:
    """The outputs of batch ``index`` with the simulation in each of ``modes``, each run
    on its own copy of the batch."""
    args = as_args(batch)
    outputs = []
    for mode in modes:
        simulation.set_mode(mode)
        outputs.append(runner(index, clone_args(args)))
    return outputs


def measure_error(cal: Calibration, batches: Iterable, *, show_progress: bool) -> ErrorReport:
    simulation = cal.simulation
    simulation.reset()
    runner = simulation_runner(cal, "error")
    output = Agreement()
    count = 0
    try:
        for index, batch in enumerate(progress(batches, show_progress, "quantization error")):
            reference, quantized = _outputs(
                simulation, runner, index, batch, (REFERENCE, QUANTIZED)
            )
            output.add(reference, quantized)
            count += 1
        stats = simulation.stats()
    finally:
        simulation.set_mode(FLOAT)
        simulation.reset()
    return ErrorReport(cal, stats, output, count)


def converted_module(cal: Calibration) -> torch.jit.ScriptModule:
    """What torch's own convert makes of a copy of the calibrated module."""
    from torch.ao.quantization import convert_dynamic_jit, convert_jit

    convert = convert_dynamic_jit if cal.quant_type == "dynamic" else convert_jit
    try:
        return convert(copy.deepcopy(cal.module))
    except (RuntimeError, torch.jit.Error) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
        raise ObsvizError(
            f"{method_label('', cal.method)}: torch's {convert.__name__} failed on the "
            f"calibrated module: {first}"
        ) from err


def compare_with_converted(
    cal: Calibration, batches: Iterable, *, show_progress: bool
) -> Comparison:
    converted = converted_module(cal)
    simulation = cal.simulation
    runner = simulation_runner(cal, "against_converted")
    converted_runner = BatchRunner(
        converted, cal.method, what="against_converted (converted)", describe_module=cal.module
    )
    result = Comparison(Agreement(), Agreement(), Agreement(), 0)
    try:
        for index, batch in enumerate(progress(batches, show_progress, "against convert_jit")):
            reference, simulated = _outputs(simulation, runner, index, batch, (FLOAT, SIMULATE))
            real = converted_runner(index, clone_args(as_args(batch)))
            result.converted_vs_float.add(reference, real)
            result.simulated_vs_float.add(reference, simulated)
            result.converted_vs_simulated.add(simulated, real)
            result.batches += 1
    finally:
        simulation.set_mode(FLOAT)
    return result
