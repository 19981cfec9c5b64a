"""Calibration numbers against torch: ranges are what the observers hold, qparams are
``calculate_qparams()``, the simulated model is torch's fake-quantize arithmetic; bad input
is refused without losing what earlier batches recorded; the user's model is left alone."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.ao.quantization import (
    default_dynamic_qconfig,
    default_qconfig,
    float16_dynamic_qconfig,
    get_default_qat_qconfig,
    get_default_qconfig,
)
from torch.ao.quantization.quantize_jit import prepare_jit

import obsviz
from obsviz.placement import observer_placement


class TwoLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = nn.Linear(8, 6)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(x)))


class OneLinear(nn.Module):
    def __init__(self, inputs: int = 4) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(inputs, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def batches(n: int = 3, shape: tuple[int, ...] = (5, 8)) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randn(shape, generator=g) for _ in range(n)]


def calibrated(eager: nn.Module, qconfig: object, data: list, **kwargs: object):
    run = obsviz.insert_observers(torch.jit.script(eager.eval()), {"": qconfig}, **kwargs)
    return run, run.calibrate(data, progress=False)


def eager_observers(eager: TwoLinear, qconfig: object, data: list) -> dict[str, object]:
    """torch's own observers, fed the float values the observed model computes."""
    observers = {name: qconfig.activation() for name in ("x", "relu", "fc2")}
    for x in data:
        hidden = torch.relu(eager.fc1(x))
        for name, value in (("x", x), ("relu", hidden), ("fc2", eager.fc2(hidden))):
            observers[name](value.detach())
    for name in ("fc1", "fc2"):
        weight = qconfig.weight()
        weight(getattr(eager, name).weight.detach())
        observers[f"{name}.weight"] = weight
    return observers


def observer_at(cal: obsviz.calib.Calibration, row: dict) -> torch.jit.ScriptModule:
    """The observer of a ranges row, found with torch's own attribute access."""
    owner = cal.module
    for name in filter(None, row["module_path"].split(".")):
        owner = getattr(owner, name)
    return getattr(owner, row["observer"])


def rows_by_range(table, role: str) -> list[dict]:
    return table[table.role == role].to_dict("records")


@pytest.mark.parametrize(
    "qconfig",
    [default_qconfig, get_default_qconfig("fbgemm")],
    ids=["minmax_per_tensor", "histogram_per_channel"],
)
def test_ranges_and_qparams_equal_torchs_own_observers(qconfig: object) -> None:
    eager = TwoLinear().eval()
    data = batches()
    _, cal = calibrated(eager, qconfig, data)
    oracle = eager_observers(eager, qconfig, data)
    table = cal.ranges
    activations = rows_by_range(table, "activation")
    assert len(activations) == 3
    for name in ("x", "relu", "fc2"):
        observer = oracle[name]
        scale, zero_point = observer.calculate_qparams()
        match = [
            r
            for r in activations
            if torch.isclose(torch.tensor(r["max"]), observer.max_val, rtol=1e-6, atol=0)
        ]
        assert len(match) == 1, name
        row = match[0]
        assert row["min"] == pytest.approx(float(observer.min_val), rel=1e-6, abs=1e-7)
        assert row["scale"] == pytest.approx(float(scale), rel=1e-5)
        assert row["zero_point"] == int(zero_point)
        assert row["batches"] == len(data)
        assert row["observer_class"] == type(observer).__name__
    for name in ("fc1", "fc2"):
        row = table[(table.module_path == name) & (table.role == "weight")].iloc[0]
        observer = oracle[f"{name}.weight"]
        scale, zero_point = observer.calculate_qparams()
        if row["quantized_as"] == "per_channel":
            assert torch.equal(row["scale"], scale)
            assert torch.equal(row["zero_point"], zero_point)
            assert row["channels"] == scale.numel()
            widths = observer.max_val - observer.min_val
            assert row["channel_width_max"] == pytest.approx(float(widths.max()))
        else:
            assert row["scale"] == float(scale)
            assert row["zero_point"] == int(zero_point)
        assert row["min"] == float(observer.min_val.min())
        assert row["max"] == float(observer.max_val.max())


def test_ranges_read_exactly_the_calibrated_observers_state() -> None:
    run, cal = calibrated(TwoLinear(), get_default_qconfig("fbgemm"), batches())
    for row in cal.ranges.to_dict("records"):
        observer = observer_at(cal, row)
        scale, zero_point = observer.calculate_qparams()
        assert row["min"] == float(observer.min_val.min())
        assert row["max"] == float(observer.max_val.max())
        assert torch.equal(torch.as_tensor(row["scale"]).reshape(-1), scale.reshape(-1))
        assert torch.equal(torch.as_tensor(row["zero_point"]).reshape(-1), zero_point.reshape(-1))


def test_a_hand_computed_observer_its_qparams_and_its_quantization_error() -> None:
    # default_qconfig's activation observer: MinMaxObserver, quint8 affine, 0..127.
    # x = [-1, 0, 0.5, 2]: scale = (2 - -1) / 127, zero_point = round(1 / scale) = 42;
    # x / scale + 42 = [0, 42, 63.17, 126.67] -> [0, 42, 63, 127], dequantized
    # [-42, 0, 21, 85] * scale = [-0.992126, 0, 0.496063, 2.007874].
    x = torch.tensor([[-1.0, 0.0, 0.5, 2.0]])
    _, cal = calibrated(OneLinear(), default_qconfig, [x])
    row = cal.ranges[cal.ranges.value == "x.1"].iloc[0]
    scale = 3 / 127
    assert row["scale"] == pytest.approx(scale, rel=1e-6)
    assert row["zero_point"] == 42
    assert (row["min"], row["max"]) == (-1.0, 2.0)
    quantized = torch.tensor([-42, 0, 21, 85]) * scale
    expected_mse = float(((quantized - x[0]) ** 2).mean())
    err = cal.error([x], progress=False)
    found = err.table[err.table.value == "x.1"].iloc[0]
    assert found["mse_local"] == pytest.approx(expected_mse, rel=1e-4)
    assert found["mse_accumulated"] == pytest.approx(expected_mse, rel=1e-4)
    signal = float((x**2).sum())
    assert found["sqnr_local_db"] == pytest.approx(
        10 * math.log10(signal / (expected_mse * 4)), rel=1e-4
    )


@pytest.mark.parametrize(
    "qconfig",
    [default_qconfig, get_default_qconfig("fbgemm")],
    ids=["minmax_per_tensor", "histogram_per_channel"],
)
def test_the_simulated_model_is_torchs_fake_quantize_chain(qconfig: object) -> None:
    eager = TwoLinear().eval()
    data = batches()
    _, cal = calibrated(eager, qconfig, data)
    oracle = eager_observers(eager, qconfig, data)

    def fake(name: str, value: torch.Tensor) -> torch.Tensor:
        # the converted model's quantize_per_tensor/_channel clamp to the dtype's range
        observer = oracle[name]
        scale, zero_point = observer.calculate_qparams()
        low, high = (0, 255) if observer.dtype == torch.quint8 else (-128, 127)
        if observer.qscheme in (torch.per_channel_symmetric, torch.per_channel_affine):
            return torch.fake_quantize_per_channel_affine(
                value, scale, zero_point.int(), observer.ch_axis, low, high
            )
        return torch.fake_quantize_per_tensor_affine(
            value, float(scale), int(zero_point), low, high
        )

    x = data[0] * 3  # beyond the calibrated ranges: clamping matters
    with torch.no_grad():
        hidden = fake(
            "relu",
            torch.relu(
                F.linear(fake("x", x), fake("fc1.weight", eager.fc1.weight), eager.fc1.bias)
            ),
        )
        expected = fake(
            "fc2", F.linear(hidden, fake("fc2.weight", eager.fc2.weight), eager.fc2.bias)
        )
    assert torch.allclose(cal.simulate(x), expected, atol=1e-6, rtol=0)
    assert not torch.allclose(eager(x), expected, atol=1e-6, rtol=0)


def test_dynamic_weights_are_observed_and_inputs_quantized_per_batch() -> None:
    eager = OneLinear(8).eval()
    data = batches()
    run, cal = calibrated(eager, default_dynamic_qconfig, data, quant_type="dynamic")
    table = cal.ranges
    weight = table[table.role == "weight"].iloc[0]
    observer = default_dynamic_qconfig.weight()
    observer(eager.fc.weight.detach())
    assert weight["scale"] == float(observer.calculate_qparams()[0])
    activation = table[table.role == "activation"].iloc[0]
    assert activation["quantized_as"] == "dynamic"
    assert activation["min"] == min(float(b.min()) for b in data)
    assert activation["max"] == max(float(b.max()) for b in data)
    assert activation["scale"] is None or math.isnan(activation["scale"])  # per batch
    debug = torch.ao.quantization.convert_dynamic_jit(cal.module, debug=True)
    for x in data:
        assert torch.allclose(cal.simulate(x), debug(x), atol=1e-6, rtol=0)


def test_float16_weights_cost_their_cast() -> None:
    eager = OneLinear(8).eval()
    data = batches()
    _, cal = calibrated(eager, float16_dynamic_qconfig, data, quant_type="dynamic")
    row = cal.ranges[cal.ranges.role == "weight"].iloc[0]
    assert row["quantized_as"] == "float16"
    err = cal.error(data, progress=False)
    weight = eager.fc.weight.detach()
    cast_mse = float(((weight.half().float() - weight) ** 2).mean())
    found = err.table[err.table.role == "weight"].iloc[0]
    assert found["mse_local"] == pytest.approx(cast_mse, rel=1e-5)


def test_fake_quantize_observers_of_a_qat_qconfig() -> None:
    run, cal = calibrated(TwoLinear(), get_default_qat_qconfig("fbgemm"), batches())
    table = cal.ranges
    assert set(table.observer_class) == {"FusedMovingAvgObsFakeQuantize"}
    for row in table.to_dict("records"):
        fake_quantize = observer_at(cal, row)
        inner = fake_quantize.activation_post_process
        scale, zero_point = fake_quantize.calculate_qparams()
        assert row["min"] == float(inner.min_val.min())
        assert row["max"] == float(inner.max_val.max())
        assert torch.equal(torch.as_tensor(row["scale"]).reshape(-1), scale.reshape(-1))
        assert torch.equal(torch.as_tensor(row["zero_point"]).reshape(-1), zero_point.reshape(-1))


def test_a_module_from_torchs_own_prepare_jit_without_running_the_pass() -> None:
    model = torch.jit.script(TwoLinear().eval())
    observed = prepare_jit(model, {"": get_default_qconfig("fbgemm")})
    data = batches()
    for x in data:
        observed(x)
    cal = obsviz.calibration(observed)
    assert len(cal.sites) == len(observer_placement(observed)) == len(cal.ranges)
    oracle = eager_observers(TwoLinear().eval(), get_default_qconfig("fbgemm"), data)
    maxima = sorted(cal.ranges[cal.ranges.role == "activation"]["max"])
    expected = sorted(float(oracle[n].max_val) for n in ("x", "relu", "fc2"))
    assert maxima == pytest.approx(expected, rel=1e-6)
    assert cal.ranges["batches"].isna().all()  # nothing recorded: no batches were seen


def test_sensitivity_of_a_module_torch_prepared_says_it_is_approximate() -> None:
    model = torch.jit.script(TwoLinear().eval())
    observed = prepare_jit(model, {"": get_default_qconfig("fbgemm")})
    data = batches()
    for x in data:
        observed(x)
    sens = obsviz.calibration(observed).sensitivity(data, progress=False)
    assert not sens.exact and "approximate" in repr(sens)
    assert sens.table.observers_added.isna().all()  # unknown without a pass to re-run
    ours = obsviz.insert_observers(model, {"": get_default_qconfig("fbgemm")})
    exact = ours.calibrate(data, progress=False).sensitivity(data, progress=False)
    assert exact.exact and "approximate" not in repr(exact)
    assert exact.table.observers_added.notna().all()


def test_calibrating_leaves_the_model_and_run_module_alone_unless_inplace() -> None:
    model = torch.jit.script(TwoLinear().eval())
    graph_before = str(model.graph)
    run = obsviz.insert_observers(model, {"": default_qconfig})
    observed_before = {k: v.clone() for k, v in run.module.state_dict().items()}
    cal = run.calibrate(batches(), progress=False)
    assert str(model.graph) == graph_before
    after = run.module.state_dict()
    assert all(torch.equal(observed_before[k], after[k]) for k in observed_before)
    assert cal.module is not run.module
    cal = run.calibrate(batches(), inplace=True, progress=False)
    assert cal.module is run.module
    assert any(
        not torch.equal(observed_before[k], run.module.state_dict()[k]) for k in observed_before
    )


def test_a_bad_batch_names_itself_and_keeps_what_earlier_batches_recorded() -> None:
    run = obsviz.insert_observers(torch.jit.script(TwoLinear().eval()), {"": default_qconfig})
    good = batches(2)
    reference = run.calibrate(good, progress=False)
    for bad in (torch.randn(5, 3), "not a tensor"):
        cal_module = obsviz.insert_observers(
            torch.jit.script(TwoLinear().eval()), {"": default_qconfig}
        ).module
        from obsviz.calib.calibration import calibrate_module

        with pytest.raises(obsviz.ObsvizError) as caught:
            calibrate_module(cal_module, [*good, bad], show_progress=False)
        message = str(caught.value)
        assert "batch 2" in message
        assert "<top>.forward" in message
        assert "forward(x: Tensor) -> Tensor" in message
        assert "earlier batches were (Tensor 5x8 float32)" in message
        kept = obsviz.calibration(cal_module).ranges
        assert kept["min"].tolist() == reference.ranges["min"].tolist()
        assert kept["max"].tolist() == reference.ranges["max"].tolist()


def test_flags_are_empty_on_a_healthy_model_and_plots_render_as_svg() -> None:
    run, cal = calibrated(TwoLinear(), get_default_qconfig("fbgemm"), batches(4))
    assert list(cal.flags) == []
    plot = cal.plot("weight", module="fc1")
    svg = plot.svg()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "<svg" in plot._repr_svg_()
    segments = plot.figure.axes[0].collections[0].get_segments()
    assert len(segments) == 6  # one min..max line per output channel of fc1
    value = cal.ranges[cal.ranges.role == "activation"].iloc[0]
    histogram = cal.plot(value["value"], module=value["module_path"])
    assert len(histogram.figure.axes) == 3  # histogram, channels, batches


def test_samples_inputs_are_reproducible_batches_of_the_example_shape() -> None:
    first = obsviz.samples.inputs("resnet_small", 3, seed=7)
    again = obsviz.samples.inputs("resnet_small", 3, seed=7)
    other = obsviz.samples.inputs("resnet_small", 3, seed=8)
    example = obsviz.samples.SAMPLES["resnet_small"].example_inputs()
    assert len(first) == 3 and all(len(b) == len(example) for b in first)
    assert all(b[0].shape == example[0].shape for b in first)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0][0], other[0][0])
    assert not torch.equal(first[0][0], first[1][0])


def test_importing_obsviz_loads_neither_pandas_nor_matplotlib() -> None:
    code = (
        "import sys, obsviz; obsviz.calibration; "
        "print('pandas' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
