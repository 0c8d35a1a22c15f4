"""The CUDA path (tests marked gpu: skipped on machines without CUDA, such as CI)."""
import json

import pytest
import torch

from theorycheck.cli import main

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def _verdicts(out):
    data = json.loads((out / "results.json").read_text())
    return data, {c["id"]: c["verdict"] for c in data["claims"]}


def test_device_cuda_runs_the_claims_and_agrees_with_the_cpu(fixture_claims, tmp_path, request):
    root = request.config.rootpath
    paths = [str(fixture_claims / "good"), str(fixture_claims / "trust" / "needle.py"),
             str(root / "claims" / "dynamics" / "gd_min_norm.py")]
    small = ["--sweep", "256", "--search", "4", "--no-db"]
    main(["run", *paths, *small, "--device", "cuda", "--out", str(tmp_path / "cuda")])
    main(["run", *paths, *small, "--device", "cpu", "--out", str(tmp_path / "cpu")])
    (cuda, on_gpu), (_, on_cpu) = _verdicts(tmp_path / "cuda"), _verdicts(tmp_path / "cpu")
    assert cuda["device"].startswith("cuda") and cuda["environment"]["device_name"] != "cpu"
    assert on_gpu == on_cpu
