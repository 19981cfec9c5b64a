"""The same input gives the same run in two separate processes.

Two Python processes with different hash seeds (so any iteration over a set or a dict of
objects that depends on hashing shows up) run ``obsviz.insert_observers`` on a few corpus
models and print what a user sees: observer names and what each observes, the
placement, two tables and explanations of observed and unobserved values. The two
outputs must be identical.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Shared class types split by qconfig, fusion patterns and residual adds, a function
# call, a list built with append, an If, and dynamic quantization.
CASES = (
    "resnet_small_nested_keys",
    "two_mlps_dynamic_diff_qconfig",
    "function_twins_same_name_static",
    "list_construct_moves_past_conv_static",
    "nested_if_static",
)

SCRIPT = r"""
import json
import sys
import warnings

warnings.simplefilter("ignore")

import obsviz
from tests.corpus import case, script

report = {}
for name in sys.argv[1:]:
    c = case(name)
    run = obsviz.insert_observers(script(c), c.qconfig_dict(), method_name=c.method_name,
                                  quant_type=c.quant_type)
    inserted = [[path, attribute, str(ref)] for path, attribute, ref in run.inserted]
    entry = {
        "inserted": inserted,
        "placement": [str(site) for site in run.placement()],
        "delay": run.tables.delay.to_string(),
        "boundary": run.tables.boundary.to_string(),
        "values": run.values().to_string(),
    }
    explained = []
    for path, _, ref in run.inserted[:2]:
        explained.append(str(run.explain(ref.name, module=ref.module_path,
                                         method=ref.graph.method)))
    values = run.values()
    unobserved = values[~values.observed & (values.reason != "not_tensor")].head(2)
    for row in unobserved.itertuples():
        explained.append(str(run.explain(row.value, module=row.module_path,
                                         method=row.method)))
    entry["explanations"] = explained
    report[name] = entry
print(json.dumps(report, indent=1, sort_keys=True))
"""


def _run_in_subprocess(hash_seed: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, *CASES],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_give_the_same_names_tables_and_explanations() -> None:
    processes = [_run_in_subprocess(seed) for seed in ("1", "2")]
    outputs = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
        outputs.append(json.loads(stdout))
    first, second = outputs
    assert set(first) == set(CASES)
    for name in CASES:
        for key in first[name]:
            assert first[name][key] == second[name][key], f"{name}: {key} differs"
        assert first[name]["inserted"], f"{name}: no observers; pick a case that has some"
        assert first[name]["explanations"]


@pytest.mark.parametrize("name", CASES)
def test_determinism_cases_exist(name: str) -> None:
    from .corpus import case

    assert case(name).real_raises is None
