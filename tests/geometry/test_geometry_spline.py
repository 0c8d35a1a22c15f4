"""geometry.relu_attention_spline: exact polynomial algebra, root multiplicities, the simulation."""
import sys
from pathlib import Path

import numpy as np
import sympy as sp
import torch

ROOT = Path(__file__).resolve().parents[2]
torch.set_num_threads(1)
_CACHE = {}


def _claim():
    if "claim" not in _CACHE:
        from theorycheck.discovery import load_claim
        _CACHE["claim"] = load_claim(str(ROOT / "claims/geometry/relu_attention_spline.py"))
    return _CACHE["claim"]


def _S():
    return sys.modules[_claim().derive.__module__.rsplit(".", 1)[0] + "._spline"]


def test_square_free_factors_and_sign_change_roots():
    S = _S()
    p = np.poly1d([1, -1]) ** 3 * np.poly1d([1, -2]) ** 2 * np.poly1d([2, -1])
    asc = np.array(p.coeffs[::-1], dtype=np.int64)
    mult = {k: [float(c) for c in f] for k, f in S.square_free_factors(asc)}
    assert mult[1] == [-0.5, 1.0] and mult[2] == [-2.0, 1.0] and mult[3] == [-1.0, 1.0]
    roots = S.sign_change_roots(asc, 0, 3)          # the double root at 2 is a touch
    assert [(round(t, 12), k) for t, k in roots] == [(0.5, 1), (1.0, 3)]
    assert S.sign_change_roots(np.array([1, -2, 1]), 0, 3) == []      # (t − 1)²
    t, k = S.sign_change_roots(np.array([-2, 0, 1]), 0, 3)[0]
    assert abs(t - np.sqrt(2)) < 1e-15 and k == 1


def test_exact_structure_matches_sympy_on_a_small_case():
    S = _S()
    w = S.weights(2, 2, 1, False, "random", 11)
    t = sp.Symbol("t")
    X = sp.Matrix(w["X0"].tolist()) + t * sp.Matrix(w["D"].tolist())
    Sc = (X * sp.Matrix(w["M"].tolist()) * X.T).applyfunc(sp.expand)
    roots = sorted(float(r) for e in Sc for r in sp.Poly(e, t).real_roots()
                   if S.T0 < float(r) < S.T1 and sp.Poly(e, t).degree() > 0
                   and sp.sign(e.subs(t, float(r) - 1e-9)) != sp.sign(e.subs(t, float(r) + 1e-9)))
    bps, mult, pieces = S.exact_structure(2, 2, 1, False, "random", 11)
    assert np.allclose(bps, sorted(set(np.round(roots, 12))), atol=1e-12)
    for lo, hi, deg in pieces:
        m = lo + S.INSIDE * (hi - lo)
        R = Sc.applyfunc(lambda e: e if e.subs(t, m) > 0 else 0)
        A = (R * X * sp.Matrix(w["WV"].tolist())).applyfunc(sp.expand)
        assert deg == max((sp.Poly(e, t).degree() if e != 0 else -1) for e in A)


def test_forward_matches_a_plain_implementation_and_pads_safely():
    from theorycheck.sim.context import SimContext
    S = _S()
    ctx = SimContext()
    ws = [S.weights(3, 2, 1, True, "random", 5), S.weights(5, 4, 1, True, "random", 6)]
    W = S.stack_weights(ws, ctx)
    ts = torch.linspace(S.T0, S.T1, 7, dtype=torch.float64)
    A, pat, _ = S.forward(ts.expand(2, 7), W, 1, True, "relu")
    w = ws[0]
    T = lambda k: torch.tensor(w[k], dtype=torch.float64)
    X = T("X0") + ts[:, None, None] * T("D")
    R = torch.relu(X @ T("M") @ X.transpose(1, 2)) @ (X @ T("WV"))
    Y = torch.relu(R @ T("W1") + T("b1")) @ T("W2") + T("b2")
    assert torch.allclose(A[0, :, :3, :2], Y, rtol=1e-13, atol=1e-12)


def test_identically_zero_input_does_not_flicker():
    from theorycheck.sim.context import SimContext
    S = _S()
    w = S.weights(2, 1, 1, False, "rank_one", 1932601442)      # token 0 is x ≡ 0 on the line
    obs = S.simulate_lines([w], 1, False, "relu", SimContext())[0]
    assert obs["breakpoints"].size == 0


def test_batched_equals_per_draw_and_checks_pass():
    from theorycheck.sim.context import SimContext
    c = _claim()
    draws = c.assumptions.sample(12, 3)
    batch = c.simulate_batch(draws, SimContext())
    for p, o in zip(draws, batch):
        single = c.simulate(p, SimContext())
        assert np.array_equal(single["breakpoints"], o["breakpoints"])
        pred = c.derive(p)
        assert all(ch(pred, o, p).passed is not False for ch in c.checks)
