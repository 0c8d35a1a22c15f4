"""Supervised contrastive loss with non-negative (ReLU) unit features:
minimisers form an orthogonal frame for any class imbalance (Kini et al.).

Exact side (theorycheck.symbolic.collapse.scl_orthogonal_optimum): the loss
of each anchor is a convex function of its similarities on the box that unit
norm and non-negativity allow (positives ≤ 1/τ, negatives ≥ 0); sympy
simplifies its derivatives and certifies the KKT signs at the corner
(1/τ, 0), which the orthogonal frame with collapsed classes attains; the
minimum loss is the sum of the corner values.  Target Gram of the class
means: the identity.
Simulation: projected gradient descent on the unit sphere ∩ non-negative
orthant from several random inits, with the projected-gradient norm as the
convergence certificate.  Break: without non-negativity (plain unit sphere)
and with imbalanced classes, the learned geometry is not an orthogonal frame
(it has negative cosines, unequal across class pairs).
"""
import numpy as np
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Claim, Float, Int, Mutant, Plot, Seed, Series, Source, at_least,
                         close)
from theorycheck.sim.collapse import class_means, cosine_gram, gram, within_class_rms
from theorycheck.sim.ufm import best_converged, labels_from_counts, scl_loss, train_on_sphere
from theorycheck.symbolic.collapse import exact, scl_anchor_loss, scl_etf_loss, scl_orthogonal_optimum, zn, zp

RESTARTS = 3


def counts_of(params):
    """n_k decreasing geometrically from n_max by the ratio (at least 2: every anchor needs a positive)."""
    K, top, ratio = params["K"], params["n_max"], params["ratio"]
    return [max(2, int(round(top * ratio ** (-k / max(K - 1, 1))))) for k in range(K)]


def derive(params):
    counts = counts_of(params)
    opt = scl_orthogonal_optimum(counts, params["tau"])
    return {"loss": opt["loss"], "gram_means": np.eye(len(counts)), "cosine_gram": np.eye(len(counts)),
            "nc1": 0.0}


def simulate(params, ctx):
    counts = counts_of(params)
    K, d = len(counts), params["d"]
    nonneg = params.get("nonnegative", True)
    labels = labels_from_counts(counts, ctx.device)
    g = ctx.generator()
    draw = torch.rand if nonneg else torch.randn
    H0 = draw(RESTARTS, d, labels.numel(), generator=g, dtype=ctx.dtype, device=ctx.device)
    tau = params["tau"]
    res = train_on_sphere(lambda H: scl_loss(H, labels, tau), H0, nonnegative=nonneg, lr=0.5 * tau,
                          steps=6000 if ctx.large else 3000, grad_tol=1e-9, record_every=5,
                          record=lambda H: {"loss": scl_loss(H, labels, tau)})
    best = best_converged(res, loss_tol=1e-9)
    H = res.params[0][best]
    M = class_means(H, labels, K)
    return {"loss": float(res.loss[best]), "certificate": float(res.grad_norm[best]),
            "gram_means": gram(M).numpy(), "cosine_gram": cosine_gram(M).numpy(),
            "nc1": float(within_class_rms(H, labels, K)),
            "step": res.history["step"].numpy(), "loss_along": res.history["loss"][best].numpy()}


def simplex_etf(params, pred):
    K = params["K"]
    G = K / (K - 1) * (np.eye(K) - 1 / K)
    return {**pred, "gram_means": G, "cosine_gram": G, "loss": scl_etf_loss(counts_of(params), params["tau"])}


def complete_collapse(params, pred):
    """All classes on one direction (cosine 1 everywhere)."""
    counts = counts_of(params)
    N, t = sum(counts), exact(params["tau"])
    loss = sum(n * scl_anchor_loss(n, N).subs({zp: 1 / t, zn: 1 / t}) for n in counts)
    K = len(counts)
    return {**pred, "gram_means": np.ones((K, K)), "cosine_gram": np.ones((K, K)), "loss": sp.N(loss, 30)}


def wrong_temperature(params, pred):
    """The orthogonal frame's loss evaluated at 2τ (a wrong constant in the minimum)."""
    return {**pred, "loss": scl_orthogonal_optimum(counts_of(params), 2 * params["tau"])["loss"]}


N_k, TAU = sp.symbols("n_k tau", positive=True)


def imbalanced(p):
    return len(set(counts_of(p))) > 1


claim = Claim(
    id="neural_collapse.scl_relu_orthogonal",
    title="Supervised contrastive loss with ReLU features: an orthogonal frame under any imbalance",
    statement=("For the full-batch supervised contrastive loss on unconstrained unit-norm features that are "
               "entry-wise non-negative (a ReLU last layer), d ≥ K and any class counts n_k ≥ 2, every minimiser "
               "collapses each class to one vector and the class vectors are mutually orthogonal; the minimum "
               "loss is Σ_k n_k [log((n_k − 1)e^{1/τ} + N − n_k) − 1/τ]."),
    math=sp.Eq(sp.Symbol("L^*"), sp.Sum(N_k * (sp.log((N_k - 1) * sp.exp(1 / TAU) + sp.Symbol("N") - N_k) - 1 / TAU),
                                        (sp.Symbol("k"), 1, sp.Symbol("K")))),
    source=Source("Symmetric Neural-Collapse Representations with Supervised Contrastive Loss: The Impact of ReLU "
                  "and Batching", "Ganesh Ramachandra Kini, Vala Vakilian, Tina Behnia, Jaidev Gill, "
                  "Christos Thrampoulidis", 2023, "seed 000",
                  note="Full batch; the batching part of the paper is not checked here."),
    assumptions=AssumptionSpace([
        Int("K", 2, 4, description="number of classes"),
        Int("d", "K", "K + 2", description="feature dimension, d ≥ K"),
        Int("n_max", 2, 5, description="samples in the largest class"),
        Float("ratio", 1.0, 3.0, log=True, description="imbalance n_max/n_min (geometric, n_k ≥ 2)"),
        Float("tau", 0.25, 1.0, log=True,
              description="temperature (below ~0.2 projected GD needs far more steps: softmax tails e^{-1/τ} "
                          "drive the last phase)"),
        Seed("data_seed"),
    ], constraints=["d >= K"]),
    derive=derive,
    simulate=simulate,
    checks=[
        at_least("no trained embedding beats the derived minimum", "loss", "loss", margin=1e-9),
        close("minimum loss", "loss", "loss", rtol=1e-7, atol=1e-10),
        close("NC1: features at their class means (RMS distance)", "nc1", "nc1", rtol=0, atol=1e-5),
        close("Gram of class means = I (orthogonal frame)", "gram_means", "gram_means", rtol=0, atol=1e-5),
    ],
    mutants=[
        Mutant("simplex ETF", simplex_etf, "the geometry without ReLU for balanced classes"),
        Mutant("complete collapse", complete_collapse, "all classes on one direction"),
        Mutant("minimum at 2τ", wrong_temperature, "the minimum loss with a wrong temperature"),
    ],
    breaks=[
        Break("no non-negativity (imbalanced)", lambda p: {**p, "nonnegative": False} if imbalanced(p) else None,
              "features on the whole sphere: negative, unequal cosines under imbalance"),
    ],
    plots=[
        Plot("Gram of class means: learned vs I", [
            Series("y = x", lambda pr, ob, p: np.ravel(pr["gram_means"]), lambda pr, ob, p: np.ravel(pr["gram_means"]),
                   role="theory", style="line"),
            Series("learned entries", lambda pr, ob, p: np.ravel(pr["gram_means"]),
                   lambda pr, ob, p: np.ravel(ob["gram_means"]), style="points"),
        ], xlabel="predicted entry", ylabel="learned entry"),
        Plot("SCL loss along projected GD", [
            Series("trained", "observation.step", "observation.loss_along"),
            Series("derived minimum", None, "prediction.loss", role="theory", style="hline"),
        ], xlabel="step", ylabel="loss"),
    ],
)
