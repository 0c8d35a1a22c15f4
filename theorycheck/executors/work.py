"""What a worker does with one claim, whatever executor started it: a clean
process state, the claim module loaded, its run, plain data back."""
from __future__ import annotations

import random
import traceback

import numpy as np
import torch

from ..claim import ClaimDefinitionError
from ..discovery import load_claim
from ..record import meta_of
from ..sim.context import derive_seed


def prepare_process(seed: int) -> None:
    """One thread (float results do not depend on --jobs), seeded global RNGs
    (a claim that uses them is still deterministic)."""
    torch.set_num_threads(1)
    s = derive_seed(seed, "worker")
    torch.manual_seed(s % 2**63)
    np.random.seed(s % 2**32)
    random.seed(s)


def run_one(path: str, options, replay_params=(), say=None, chunk_runner=None) -> tuple:
    """("done", data) | ("load_error", message) | ("crash", traceback)."""
    from ..runner import run_claim
    try:
        claim = load_claim(path)
    except ClaimDefinitionError as exc:
        return ("load_error", str(exc))
    try:
        return ("done", run_claim(claim, options, say=say, chunk_runner=chunk_runner, replay_params=replay_params))
    except Exception:
        return ("crash", "theorycheck failed while running the claim:\n" + traceback.format_exc(limit=8))


def describe_file(path: str) -> tuple:
    """("claim", meta) | ("load_error", message): what discovery learns about one file."""
    try:
        claim = load_claim(path)
    except ClaimDefinitionError as exc:
        return ("load_error", str(exc))
    meta = meta_of(claim)
    meta["path"] = claim.module_path
    return ("claim", meta)
