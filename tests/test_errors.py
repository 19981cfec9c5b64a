"""Bad input gets an ObsvizError or an obsviz warning that names where and what."""

from __future__ import annotations

import threading
import warnings

import pytest
import torch
import torch.nn as nn
from torch.ao.quantization import get_default_qconfig

import obsviz
from obsviz.placement import observer_placement

from .corpus import case, real_pass, script

QCONFIG = {"": get_default_qconfig("fbgemm")}


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).mean((2, 3)))


@torch.jit.interface
class TensorToTensor(nn.Module):
    def forward(self, input: torch.Tensor) -> torch.Tensor:  # Conv2d.forward's argument name
        pass


class InterfaceNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.head = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x))


# Set by hand: TorchScript cannot resolve the interface from a postponed annotation.
InterfaceNet.__annotations__ = {"head": TensorToTensor}


def linear_helper(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.linear(x, w)


class FunctionNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 4))
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear_helper(self.fc(x), self.w)


class LoopNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(2):
            x = self.fc(x)
        return x


def _scripted(cls: type[nn.Module]) -> torch.jit.ScriptModule:
    torch.manual_seed(0)
    return torch.jit.script(cls().eval())


def test_an_eager_module_is_refused_with_how_to_script_it() -> None:
    with pytest.raises(obsviz.ObsvizError, match=r"torch\.jit\.script\(model\.eval\(\)\)"):
        obsviz.insert_observers(ConvNet(), QCONFIG)


def test_something_that_is_not_a_module_is_refused() -> None:
    with pytest.raises(obsviz.ObsvizError, match="expected a torch.jit.ScriptModule"):
        obsviz.insert_observers("model.pt", QCONFIG)


def test_a_missing_method_names_the_methods_there_are() -> None:
    with pytest.raises(obsviz.ObsvizError, match=r"no method 'encode' \(its methods: forward"):
        obsviz.insert_observers(_scripted(ConvNet), QCONFIG, method_name="encode")


def _torch_fails(*args: object) -> None:
    raise RuntimeError("boom\nthe rest of torch's message")


# (what fails, where obsviz says the pass was): before the helper runs the top module;
# in preprocess, which works on callees first, Conv2d.forward's callee _conv_forward
TORCH_FAILURES = {
    "swap_functional_linear": (torch._C, "_jit_pass_swap_functional_linear", "<top>"),
    "preprocess": (obsviz.engine, "preprocess_graph", r"conv\._conv_forward"),
}


@pytest.mark.parametrize("phase", TORCH_FAILURES)
def test_torch_failing_in_a_phase_names_the_instance_the_phase_and_torchs_first_line(
    phase: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, name, where = TORCH_FAILURES[phase]
    monkeypatch.setattr(owner, name, _torch_fails)
    with pytest.raises(
        obsviz.ObsvizError,
        match=rf"^{where}: torch failed during the {phase} phase of the pass on 'forward': boom$",
    ):
        obsviz.insert_observers(_scripted(ConvNet), QCONFIG)


def test_non_string_keys_are_refused() -> None:
    with pytest.raises(obsviz.ObsvizError, match=r"names \(str\) as keys; got 0"):
        obsviz.insert_observers(_scripted(ConvNet), {0: get_default_qconfig("fbgemm")})


def test_a_key_that_matches_no_submodule_warns_with_the_closest_paths() -> None:
    qconfig_dict = {"": get_default_qconfig("fbgemm"), "convv": None}
    with pytest.warns(obsviz.QConfigKeyWarning, match=r"'convv' matches no submodule.*'conv'"):
        run = obsviz.insert_observers(_scripted(ConvNet), qconfig_dict)
    assert run.module is not None


def test_an_invalid_quant_type_is_refused() -> None:
    with pytest.raises(obsviz.ObsvizError, match="quant_type must be 'static' or 'dynamic'"):
        obsviz.insert_observers(_scripted(ConvNet), QCONFIG, quant_type="int8")


def test_a_qconfig_that_is_not_a_qconfig_is_refused() -> None:
    with pytest.raises(obsviz.ObsvizError, match=r"qconfig_dict\['fc'\] must be .*QConfig"):
        obsviz.insert_observers(_scripted(ConvNet), {"": None, "fc": "fbgemm"})


def test_an_inconsistent_if_names_the_module_method_and_branch_states() -> None:
    c = case("if_inconsistent_zeros_static")
    with pytest.raises(obsviz.PassError) as err:
        obsviz.insert_observers(script(c), c.qconfig_dict())
    message = str(err.value)
    assert err.value.rule == "insertObserversFor"
    assert "branches for 'if' should return values that are observed consistently" in message
    assert "<top>.forward" in message
    assert "returns %" in message and "NOT observed" in message


def test_a_function_with_quantizable_ops_warns_that_they_stay_float() -> None:
    model = _scripted(FunctionNet)
    with pytest.warns(obsviz.FunctionWarning, match=r"linear_helper.*aten::linear"):
        run = obsviz.insert_observers(model, QCONFIG)
    real = real_pass(model, QCONFIG)
    assert observer_placement(run.module) == observer_placement(real)


def test_a_loop_with_quantizable_ops_warns_and_names_them() -> None:
    model = _scripted(LoopNet)
    with pytest.warns(obsviz.LoopWarning, match=r"<top>\.forward: prim::Loop.*prim::CallMethod"):
        run = obsviz.insert_observers(model, QCONFIG)
    skipped = run.events_of(obsviz.events.LoopSkipped)
    assert len(skipped) == 1 and skipped[0].values


def test_an_interface_typed_submodule_is_followed_like_the_real_pass() -> None:
    model = _scripted(InterfaceNet)
    run = obsviz.insert_observers(model, QCONFIG)
    real = real_pass(model, QCONFIG)
    assert observer_placement(run.module) == observer_placement(real)


def test_a_traced_model_matches_the_real_pass() -> None:
    torch.manual_seed(0)
    traced = torch.jit.trace(ConvNet().eval(), torch.randn(1, 3, 8, 8))
    run = obsviz.insert_observers(traced, QCONFIG)
    real = real_pass(traced, QCONFIG)
    assert observer_placement(run.module) == observer_placement(real)
    assert "aten::conv2d" in str(run.module.conv._c._get_method("forward").graph)


class Unscriptable(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(x.numpy())


def test_an_observer_that_cannot_be_scripted_names_the_qconfig_key() -> None:
    bad = torch.ao.quantization.QConfig(activation=Unscriptable, weight=Unscriptable)
    with pytest.raises(
        obsviz.ObsvizError,
        match=r"cannot script the observers of "
        r"qconfig_dict\['fc'\]",
    ):
        obsviz.insert_observers(_scripted(ConvNet), {"": None, "fc": bad})


@pytest.mark.parametrize("entry", ["insert_observers", "prepare_jit", "steps"])
@pytest.mark.parametrize(
    ("model", "qconfig_dict", "category"),
    [
        (ConvNet, {**QCONFIG, "convv": None}, obsviz.QConfigKeyWarning),
        (FunctionNet, QCONFIG, obsviz.FunctionWarning),
        (LoopNet, QCONFIG, obsviz.LoopWarning),
    ],
)
def test_a_warning_points_at_the_users_line(
    entry: str, model: type, qconfig_dict: dict, category: type
) -> None:
    scripted = _scripted(model)
    with pytest.warns(category) as record:
        if entry == "steps":
            list(obsviz.steps(scripted, qconfig_dict))  # the pass runs in a worker thread
        else:
            getattr(obsviz, entry)(scripted, qconfig_dict)
    [warning] = [w for w in record if issubclass(w.category, category)]
    if entry == "steps":
        assert warning.filename == threading.__file__  # the thread's start: no user line
    else:
        assert warning.filename == __file__, warning.filename


def test_torchs_reduce_range_notice_is_not_the_users_news() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        get_default_qconfig("fbgemm").activation()  # torch itself says it, made directly
        assert any("reduce_range will be deprecated" in str(w.message) for w in caught)
        caught.clear()
        obsviz.insert_observers(_scripted(ConvNet), QCONFIG)
    assert not [str(w.message) for w in caught if "reduce_range" in str(w.message)]
