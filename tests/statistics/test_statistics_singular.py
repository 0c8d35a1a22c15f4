"""statistics.rlct_marginal: the derivation, the importance-sampling estimator
(unbiased, honest standard errors), and batched vs per-draw simulations."""
import math
import sys
from pathlib import Path

import numpy as np
import sympy as sp
import torch
from scipy import integrate

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext

CLAIM = Path(__file__).resolve().parents[2] / "claims" / "statistics" / "rlct_marginal.py"


def _load():
    claim = load_claim(CLAIM)
    return claim, next(m for k, m in sys.modules.items() if k.endswith("._singular"))


def test_derivation_and_closed_form():
    _, h = _load()
    d = h.derivation()
    a, n = sp.symbols("a n", positive=True)
    assert sp.simplify(d["inner"] - 1 / sp.sqrt(1 + n * a**2)) == 0
    assert d["closed_vs_sympy"] < 1e-20
    assert sp.simplify(d["G"] - (sp.log(n) + 3 * sp.log(2) - sp.EulerGamma)) == 0
    for nv in (30.0, 3e3):  # against direct quadrature of the prior expectation over a
        f = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi) / math.sqrt(1 + nv * x * x)  # noqa: E731
        q = 2 * integrate.quad(f, 0, np.inf, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
        assert abs(q / h.Z_exact(nv) - 1) < 1e-9


def test_importance_sampling_is_unbiased_with_honest_errors():
    _, h = _load()
    ctx = SimContext()
    ns = torch.tensor([1e2, 1e4, 1e6, 1e8], dtype=torch.float64).repeat(8)
    gens = [torch.Generator().manual_seed(s) for s in range(len(ns))]
    est, se, ess = h.importance_sample(ns, gens, 4096, ctx)
    z = (est - torch.as_tensor(h.Z_exact(ns.numpy()))) / se
    assert float(z.abs().max()) < 4.5 and abs(float(z.mean())) < 1.2  # 32 independent estimates
    assert float(ess.min()) > 1000
    vb, seb, _ = h.importance_sample(ns[:4], gens[:4], 4096, ctx, prior="vanishing")
    # the vanishing prior: E[a²b² e^{−n a²b²/2}] by quadrature at n = 100
    inner = lambda x: x * x / (1 + 100 * x * x) ** 1.5  # E_b[b² e^{−c b²/2}] = (1 + c)^{−3/2}  # noqa: E731
    q = 2 * integrate.quad(lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi) * inner(x), 0, np.inf)[0]
    assert abs(float(vb[0]) - q) < 5 * float(seb[0])


def test_batched_equals_single_draws():
    claim, _ = _load()
    draws = claim.assumptions.sample(4, seed=1)
    batch = claim.simulate_batch(draws, SimContext(seed=0).with_seeds([3, 4, 5, 6]))
    for i, p in enumerate(draws):
        one = claim.simulate(p, SimContext(seed=3 + i))
        for k in ("Z_mc", "Z_se", "ess"):
            np.testing.assert_allclose(one[k], batch[i][k], rtol=1e-12)
        pred = claim.derive(p)
        assert all(c(pred, batch[i], p, SimContext()).passed for c in claim.checks)
        assert not claim.checks[0]({**pred, "Z": 1.1 * pred["Z"]}, batch[i], p, SimContext()).passed
