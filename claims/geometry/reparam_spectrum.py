"""Reparametrisation invariance of the metric-corrected Hessian spectrum
(Kristiadi, Dangel, Hennig 2023).

θ = φ(ψ) a diffeomorphism with Jacobian J = Dφ(ψ), a metric G_θ on θ-space and its
pull-back G_ψ = JᵀG_θJ.  Chain rule: ∇²_ψ(L∘φ) = JᵀH_θJ + Σ_k ∂_kL(θ)·∇²φ_k(ψ);
at a critical point the second term vanishes, so G_ψ⁻¹H_ψ = J⁻¹(G_θ⁻¹H_θ)J is
similar to G_θ⁻¹H_θ: the spectra agree.  spec(H) alone is not invariant.

Exact side (derive): a one-hidden-layer tanh network with a *planted* critical point
θ* (labels chosen so the residual lies in null(J_fᵀ): ∇L(θ*) = 0 to round-off; a strict
minimum or a saddle by construction, see ``_reparam.planted``); closed-form (numpy)
Hessian and metric in θ, the generalised eigenvalues of (H_θ, G_θ).  Module-level
sympy: the chain rule for H_ψ with a symbolic φ, and the vanishing of the extra term
at ∇L = 0.

Simulation: training in ψ-coordinates — Newton's method on ∇_ψ(L∘φ) = 0 from a
perturbed start φ⁻¹(θ*) + 10⁻³·ξ, in torch, with autograd Hessians of the composite
L∘φ (never the chain-rule formula), until ‖∇_ψ‖ ≤ 1e-12; then H_ψ by autograd, the
pulled-back metric from autograd Jacobians in ψ (Euclidean: DφᵀDφ; Gauss–Newton:
(2/n) D(f∘φ)ᵀD(f∘φ)), and the eigenvalues of (H_ψ, G_ψ).  All draws of one network
shape run as one batched tensor program (plain autograd: one backward pass per
Hessian row, shared by the whole batch)."""
import functools

import numpy as np
import scipy.linalg as sla
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Inconclusive, Int, Mutant, Plot, Seed, Series,
                         Source, close)

from ._reparam import loss_parts, n_params, phi_inverse, phi_jacobian, phi_spec, planted

NEWTON_STEPS = 10
GRAD_TOL = 1e-12
START_NOISE = 1e-5
BREAK_GRADIENT = 0.3


@functools.lru_cache(maxsize=1)
def chain_rule_proof() -> bool:
    """sympy: for φ: R² → R² and L: R² → R symbolic, ∇²(L∘φ) − JᵀH_θJ = Σ_k ∂_kL ∇²φ_k,
    which is 0 wherever ∇L = 0."""
    p1, p2, t1, t2 = sp.symbols("psi1 psi2 theta1 theta2")
    phi = [sp.Function("phi1")(p1, p2), sp.Function("phi2")(p1, p2)]
    L = sp.Function("L")
    comp = L(*phi)
    psi = [p1, p2]
    Hpsi = sp.Matrix(2, 2, lambda i, j: sp.diff(comp, psi[i], psi[j]))
    J = sp.Matrix(2, 2, lambda k, i: sp.diff(phi[k], psi[i]))
    Lt = L(t1, t2)
    sub = {t1: phi[0], t2: phi[1]}
    Ht = sp.Matrix(2, 2, lambda a, b: sp.diff(Lt, [t1, t2][a], [t1, t2][b])).subs(sub)
    gt = [sp.diff(Lt, t).subs(sub) for t in (t1, t2)]
    extra = sum((gt[k] * sp.Matrix(2, 2, lambda i, j: sp.diff(phi[k], psi[i], psi[j])) for k in range(2)),
                sp.zeros(2, 2))
    diff = (Hpsi - J.T * Ht * J - extra).applyfunc(lambda e: sp.simplify(e.doit()))
    return diff == sp.zeros(2, 2)


def metric_theta(kind, G_gn, p):
    return np.eye(p) if kind == "euclidean" else G_gn


def derive(params):
    d, k = params["d"], params["k"]
    Xt, y, theta, s = planted(d, k, params["point"], params["data_seed"])
    p = n_params(d, k)
    _, g, H, G_gn = loss_parts(theta, Xt, y, d, k)
    G = metric_theta(params["metric"], G_gn, p)
    spec = sla.eigh(H, G, eigvals_only=True)
    A, a, b = phi_spec(params["phi"], d, k, params["data_seed"])
    psi = phi_inverse(theta, A, a, b)
    J = phi_jacobian(psi, A, a, b)
    # contravariant pull-back (wrong rule): G'_ψ = J⁻¹ G_θ J⁻ᵀ, with H_ψ = JᵀH_θJ at the critical point
    Jinv = np.linalg.inv(J)
    contra = sla.eigh(J.T @ H @ J, Jinv @ G @ Jinv.T, eigvals_only=True)
    return {"spectrum": spec, "invariant": "metric_spectrum", "hessian_spectrum": np.linalg.eigvalsh(H),
            "contravariant_spectrum": np.sort(contra), "grad_norm_theta": float(np.linalg.norm(g)),
            "chain_rule_proved": chain_rule_proof(), "smallest_eigenvalue": float(np.linalg.eigvalsh(H)[0])}


# ---- simulation: Newton in ψ-coordinates, autograd of the composite ---------------------------------

def _phi(psi, A, a, b):
    """θ = A(ψ + a sin ψ + b ψ³), batched over draws: psi (B, p), A (B, p, p), a, b (B,)."""
    u = psi + a[:, None] * torch.sin(psi) + b[:, None] * psi**3
    return (A @ u[..., None])[..., 0]


def _outputs(theta, Xt, d, k):
    e = d + 1
    V = theta[:, : k * e].reshape(-1, k, e)
    w2 = theta[:, k * e: k * e + k]
    return (torch.tanh(Xt @ V.transpose(1, 2)) @ w2[..., None])[..., 0] + theta[:, -1:]


def _jacobian_rows(out, psi):
    """d out[:, j] / d psi for every j, by one backward pass per row (plain autograd, batched over draws)."""
    return torch.stack([torch.autograd.grad(out[:, j].sum(), psi, retain_graph=True, create_graph=False)[0]
                        for j in range(out.shape[1])], dim=1)


def _loss_grad_hess(psi, Xt, y, A, a, b, gvec, d, k, need_hessian=True):
    psi = psi.detach().requires_grad_(True)
    theta = _phi(psi, A, a, b)
    r = _outputs(theta, Xt, d, k) - y
    loss = (r * r).sum(1) / Xt.shape[1] + (gvec * theta).sum(1)
    (g,) = torch.autograd.grad(loss.sum(), psi, create_graph=need_hessian)
    if not need_hessian:
        return g.detach(), None
    return g.detach(), _jacobian_rows(g, psi)


def _run_bucket(items, ctx):
    """items: list of (params, generator) of one (d, k); returns one observation per item."""
    d, k = items[0][0]["d"], items[0][0]["k"]
    p = n_params(d, k)
    Xs, ys, As, ab, psi0, gv, do_newton = [], [], [], [], [], [], []
    for params, gen in items:
        Xt, y, theta, _ = planted(d, k, params["point"], params["data_seed"])
        A, a, b = phi_spec(params["phi"], d, k, params["data_seed"])
        psi_star = phi_inverse(theta, A, a, b)     # the point φ⁻¹(θ*)
        noise = torch.randn(p, generator=gen, dtype=ctx.dtype, device=ctx.device)
        off = params.get("gradient_offset", 0.0)
        if off:   # break: the same point, made non-critical by a linear term gᵀθ (H_θ unchanged); no training
            rng = np.random.default_rng([params["data_seed"], 11])
            g = rng.standard_normal(p)
            gv.append(off * g / np.linalg.norm(g))
            psi0.append(ctx.tensor(psi_star))
            do_newton.append(False)
        else:
            gv.append(np.zeros(p))
            psi0.append(ctx.tensor(psi_star) + START_NOISE * noise)
            do_newton.append(True)
        Xs.append(Xt), ys.append(y), As.append(A), ab.append((a, b))
    T = ctx.tensor
    Xt, y, A = T(np.stack(Xs)), T(np.stack(ys)), T(np.stack(As))
    a, b = T([x[0] for x in ab]), T([x[1] for x in ab])
    gvec = T(np.stack(gv))
    psi = torch.stack(psi0)
    train = torch.tensor(do_newton, device=ctx.device)[:, None]
    args = (Xt, y, A, a, b, gvec, d, k)
    for step in range(NEWTON_STEPS):   # Newton on ∇_ψ(L∘φ) = 0: quadratic convergence to the critical point
        gr, H = _loss_grad_hess(psi, *args)
        psi = torch.where(train, psi - torch.linalg.solve(H, gr[..., None])[..., 0], psi)
        if step >= 2 and step % 2 == 0:
            gnow, _ = _loss_grad_hess(psi, *args, need_hessian=False)
            if bool((gnow.norm(dim=1)[train[:, 0]] <= GRAD_TOL / 10).all()):
                break
    gr, H = _loss_grad_hess(psi, *args)
    H = 0.5 * (H + H.transpose(1, 2))
    q = psi.detach().requires_grad_(True)
    theta = _phi(q, A, a, b)
    Jphi = _jacobian_rows(theta, q)                       # Dφ(ψ) by autograd
    Jf = _jacobian_rows(_outputs(theta, Xt, d, k), q)     # D(f∘φ)(ψ) by autograd
    G_eu = Jphi.transpose(1, 2) @ Jphi
    G_gn = (2.0 / Xt.shape[1]) * Jf.transpose(1, 2) @ Jf
    euclid = torch.tensor([pp["metric"] == "euclidean" for pp, _ in items], device=ctx.device)[:, None, None]
    G = torch.where(euclid, G_eu, G_gn)
    Lc = torch.linalg.cholesky(G)
    C = torch.linalg.solve_triangular(Lc, torch.linalg.solve_triangular(Lc, H, upper=False).transpose(1, 2),
                                      upper=False)
    spec = torch.linalg.eigvalsh(0.5 * (C + C.transpose(1, 2))).cpu().numpy()
    hspec = torch.linalg.eigvalsh(H).cpu().numpy()
    gnorm = gr.norm(dim=1).cpu().numpy()
    return [{"metric_spectrum": spec[i], "hessian_spectrum": hspec[i], "grad_norm_psi": float(gnorm[i]),
             "scale": float(np.abs(spec[i]).max()), "hscale": float(np.abs(hspec[i]).max()),
             "trained": bool(do_newton[i]), "index": np.arange(p)} for i in range(len(items))]


def _certify(obs):
    if obs["trained"] and not obs["grad_norm_psi"] <= GRAD_TOL:
        raise Inconclusive(f"Newton in ψ did not certify a critical point: ‖∇_ψ‖ = {obs['grad_norm_psi']:.1e}")
    return obs


def simulate_batch(params_list, ctx):
    gens = ctx.generators()
    buckets = {}
    for i, p in enumerate(params_list):
        buckets.setdefault((p["d"], p["k"]), []).append(i)
    out = [None] * len(params_list)
    for idx in buckets.values():
        for i, o in zip(idx, _run_bucket([(params_list[i], gens[i]) for i in idx], ctx)):
            out[i] = o
    return [_batch_obs(o) for o in out]


def _batch_obs(o):
    # an uncertified draw is undecidable, never a pass: NaN spectra make every check undecidable
    if o["trained"] and not o["grad_norm_psi"] <= GRAD_TOL:
        return {**o, "metric_spectrum": np.full_like(o["metric_spectrum"], np.nan),
                "hessian_spectrum": np.full_like(o["hessian_spectrum"], np.nan)}
    return o


def simulate(params, ctx):
    return _certify(_run_bucket([(params, ctx.generator())], ctx)[0])


def _theory(pred, obs, params):
    which = "scale" if pred["invariant"] == "metric_spectrum" else "hscale"
    return np.asarray(pred["spectrum"], dtype=float) / obs[which]


def _observed(pred, obs, params):
    which = "scale" if pred["invariant"] == "metric_spectrum" else "hscale"
    return np.asarray(obs[pred["invariant"]], dtype=float) / obs[which]


TOL = 1e-8

claim = Claim(
    id="geometry.reparam_spectrum",
    title="Reparametrisation: spec(G⁻¹H) is invariant at critical points, spec(H) is not",
    statement=("Let θ = φ(ψ) be a diffeomorphism with Jacobian J, G_θ a metric and G_ψ = JᵀG_θJ its "
               "pull-back.  At a critical point of L (a minimum or a saddle), the Hessian of L∘φ is "
               "H_ψ = JᵀH_θJ, so the eigenvalues of G_ψ⁻¹H_ψ equal those of G_θ⁻¹H_θ; the spectrum of the "
               "Hessian alone is not invariant, and away from critical points H_ψ gains Σ_k ∂_kL·∇²φ_k and "
               "the invariance fails."),
    math=sp.Eq(sp.Symbol(r"\operatorname{spec}(G_\psi^{-1}H_\psi)"),
               sp.Symbol(r"\operatorname{spec}(G_\theta^{-1}H_\theta)")),
    source=Source("The Geometry of Neural Nets' Parameter Spaces Under Reparametrization",
                  "Agustinus Kristiadi, Felix Dangel, Philipp Hennig", 2023, "seed 002",
                  note=("Talk abstract at seed 002 line 72.  Departures from CLAIMS-2: critical points are planted "
                        "(labels chosen so the residual lies in null(J_fᵀ)) instead of found by L-BFGS, which makes "
                        "every draw an exact minimum or saddle by construction and costs one QR per draw; for the "
                        "same reason there is no L2 term (strictness comes from cond(J_f) ≤ 300).  The "
                        "simulation still trains: Newton in ψ-coordinates from a perturbed start, autograd only.  "
                        "'Layer rescalings' are per-neuron positive rescalings (linear diffeomorphisms); "
                        "WeightNorm is not a diffeomorphism and is not part of the claim.")),
    assumptions=AssumptionSpace([
        Int("d", 2, 3, description="input dimension"),
        Int("k", 2, "d + 1", description="hidden tanh units (k ≤ d + 1: wider nets on 32 points are ill-conditioned)"),
        Choice("phi", ["elementwise", "linear", "rescale"],
               description="θ = ψ + 0.4 sin ψ + 0.1ψ³ (elementwise), θ = Aψ (random A), or per-neuron rescaling"),
        Choice("metric", ["euclidean", "gauss_newton"], description="G_θ = I, or the Gauss–Newton matrix"),
        Choice("point", ["minimum", "saddle"], description="the kind of planted critical point"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        close("spectrum of G_ψ⁻¹H_ψ = spectrum of G_θ⁻¹H_θ", _theory, _observed, rtol=TOL, atol=TOL),
    ],
    mutants=[
        Mutant("spec(H) is invariant",
               lambda p, pred: {**pred, "spectrum": pred["hessian_spectrum"], "invariant": "hessian_spectrum"},
               "structural: the metric dropped; the Hessian's own eigenvalues claimed invariant"),
        Mutant("near-miss: contravariant pull-back J⁻¹G_θJ⁻ᵀ",
               lambda p, pred: {**pred, "spectrum": pred["contravariant_spectrum"]},
               "the metric transformed with J's exponent flipped (a vector's rule instead of a bilinear form's)"),
    ],
    breaks=[
        Break("non-critical point (‖∇L‖ = 0.3)",
              lambda p: {**p, "gradient_offset": BREAK_GRADIENT} if p["phi"] == "elementwise" else None,
              "the same point made non-critical by a linear term gᵀθ, ‖g‖ = 0.3, which leaves H_θ unchanged: "
              "H_ψ gains Σ_k g_k∇²φ_k (only a nonlinear φ has ∇²φ ≠ 0)",
              expect=["spectrum of G_ψ⁻¹H_ψ = spectrum of G_θ⁻¹H_θ"]),
    ],
    regimes={"elementwise φ": "phi == 'elementwise'", "linear φ": "phi == 'linear'",
             "per-neuron rescaling": "phi == 'rescale'", "Euclidean metric": "metric == 'euclidean'",
             "Gauss–Newton metric": "metric == 'gauss_newton'", "minimum": "point == 'minimum'",
             "saddle": "point == 'saddle'"},
    resolution={"spectrum": 1e-5,
                "invariant": "names which observed spectrum the check compares (a switch, not a number)"},
    plots=[
        Plot("generalised eigenvalues: θ (theory) vs ψ (simulation)", [
            Series("spec(G_θ⁻¹H_θ)", "observation.index", _theory, role="theory", style="line"),
            Series("spec(G_ψ⁻¹H_ψ)", "observation.index", _observed, style="points"),
        ], xlabel="eigenvalue index", ylabel="eigenvalue / largest |eigenvalue|"),
    ],
)
