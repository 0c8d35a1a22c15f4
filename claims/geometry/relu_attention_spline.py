"""ReLU attention is a cubic spline along lines (Lai, Lim, Liu 2024).

A(X) = ReLU(X W_Q W_Kᵀ Xᵀ) X W_V (no softmax, no row normalisation).  On a line
X(t) = X₀ + tΔ every score s_ij(t) = x_i(t)ᵀ W_QW_Kᵀ x_j(t) is a quadratic, and between
consecutive sign changes of the scores each output entry Σ_j ReLU(s_ij)(x_j(t)ᵀW_V)_k is a
polynomial of degree ≤ 3: A is continuous and piecewise cubic.  A ReLU feed-forward layer
after it keeps degree ≤ 3 (new breakpoints at the roots of its cubic pre-activations); two
stacked attention layers have degree ≤ 9 (sextic scores times cubic values).

Exact side: integer data and weights, so scores, outputs and pre-activations are integer
polynomials in t; breakpoints are the real roots with a sign change (exact discriminant for
the quadratics, polished roots otherwise) and the degree on each piece is the index of the
highest non-zero coefficient (``_spline.exact_structure``).  The prediction is the exact
degree D (the theorem's bound 3 or 9, attained generically), the breakpoints and the exact
degree on each piece.

Simulation: torch forward passes of the network on an 800-point grid of t ∈ [1 − 1/2π, 3 + 1/e]; the
activation pattern (signs of every ReLU input) per point; breakpoints by bisection on the
pattern; least-squares fits of every degree 0 … 10 on each piece (Chebyshev basis; a
degree-k fit is judged on pieces with ≥ k + 11 points); the change across each breakpoint
against the change over the same distance beside it.
Draws of one architecture share one tensor program for the grid forward passes.

Two layers: pieces far shorter than the grid step exist (10⁻⁴ wide on some draws), so the
breakpoints are not checked there, a grid piece that straddles a predicted edge is undecidable
for the fit check (seen on 1 of ~270 draws of seeds 2 and 3), and fit residuals are measured
against the largest ReLU input (the output can be ~1 % of the terms it is summed from)."""
import numpy as np
import sympy as sp

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Int, Mutant, Plot, Seed, Series, Source, at_most,
                         holds)

from ._spline import GRID, T0, T1, exact_structure, simulate_lines, weights

FIT_TOL = 1e-10     # relative residual of a fit of the predicted degree
EXACT_GAP = 30      # attained: a fit of one degree less is ≥ 30× worse on some top-degree piece ...
FLOOR = 1e-15       # ... than the degree-D fit (that piece's round-off) or 1e-15
SAME_FIT = 3        # not attained: one degree less fits every top piece within 3× as well
BP_TOL = 1e-8       # breakpoint location (in t), one attention layer, simple roots;
BP_TOL_MULTIPLE = 1e-3   # roots of multiplicity k ≥ 2 are located only to ~(1e-12)^(1/k)
ZERO_OUTPUT = 1e-12 # a piece of exact degree −1 (output ≡ 0): |output| ≤ 1e-12 × the largest ReLU input
# two layers: the second layer's scores carry the first layer's cancellation, so round-off is measured
# against the largest ReLU input (the terms summed), not against the output, which can be ~1 % of them
FIT_TOL_2 = 1e-7
JUMP_RATIO = 10     # change across a breakpoint ≤ 10 × the change over the same distance beside it


def _w(params):
    return weights(params["n"], params["d"], params["layers"], params["ffn"] == "relu_ffn", params["qk"],
                   params["data_seed"])


def derive(params):
    bps, mult, pieces = exact_structure(params["n"], params["d"], params["layers"], params["ffn"] == "relu_ffn",
                                        params["qk"], params["data_seed"])
    degs = [p[2] for p in pieces]
    return {"degree": int(max(degs)), "degree_bound": 3 ** params["layers"], "breakpoints": bps,
            "multiplicity": mult, "piece_edges": np.array([p[1] for p in pieces[:-1]]),
            "piece_degrees": np.array(degs)}


def _key(p):
    return p["layers"], p["ffn"] == "relu_ffn", p.get("attention", "relu")


def simulate_batch(params_list, ctx):
    """Draws of one architecture (layers, FFN, attention kind) share one tensor program; chunks
    of 64 draws keep the grid tensors small."""
    groups = {}
    for i, p in enumerate(params_list):
        groups.setdefault(_key(p), []).append(i)
    out = [None] * len(params_list)
    for key, idx in groups.items():
        for c in range(0, len(idx), 64):
            chunk = idx[c: c + 64]
            for i, o in zip(chunk, simulate_lines([_w(params_list[i]) for i in chunk], *key, ctx)):
                out[i] = o
    return out


def simulate(params, ctx):
    return simulate_lines([_w(params)], *_key(params), ctx)[0]


def _piece_degrees(pred, obs):
    """The exact degree of the predicted piece that contains each observed piece's midpoint."""
    idx = np.searchsorted(np.asarray(pred["piece_edges"], dtype=float), np.asarray(obs["piece_mid"]))
    return np.rint(np.asarray(pred["piece_degrees"], dtype=float)).astype(int)[idx]


def _fits(pred, obs, params):
    """On every observed piece, a fit of degree min(exact degree of the piece, D) is exact to 1e-10
    of the output (one layer) or 1e-7 of the largest ReLU input (two layers) (D = the predicted
    degree, so a smaller D is tested on the pieces that need more)."""
    R = np.asarray(obs["piece_residuals"])
    if R.size == 0:
        return True
    pdeg = _piece_degrees(pred, obs)
    zero_tol = ZERO_OUTPUT if params["layers"] == 1 else FIT_TOL_2
    if np.any((pdeg < 0) & (np.asarray(obs["piece_peak"]) > zero_tol)):
        return False     # an exactly-zero piece must be zero up to round-off
    k = np.clip(np.minimum(pdeg, int(pred["degree"])), 0, R.shape[1] - 1)
    r = np.where(pdeg < 0, 0.0, R[np.arange(R.shape[0]), k])
    if params["layers"] > 1:   # residual relative to the largest ReLU input (piece_peak = max|output| / it)
        r = r * np.minimum(np.asarray(obs["piece_peak"], dtype=float), 1.0)
        # two layers: breakpoints are not checked (pieces far shorter than the grid step exist), so a grid
        # piece that straddles a predicted edge is a union of pieces the grid did not resolve: undecidable there
        edges = np.asarray(pred["piece_edges"], dtype=float)
        span = np.asarray(obs.get("piece_span", np.zeros((0, 2))), dtype=float)
        if span.shape[0] == r.shape[0]:
            step = (T1 - T0) / (GRID - 1)
            inside = ((edges[None, :] > span[:, :1] + step) & (edges[None, :] < span[:, 1:] - step)).any(1)
            r = np.where(inside, np.nan, r)
    if np.any(np.nan_to_num(r, nan=0.0) > (FIT_TOL if params["layers"] == 1 else FIT_TOL_2)):
        return False
    return None if np.all(np.isnan(r)) else True


def _exact(pred, obs, params):
    """On the pieces of top exact degree (with enough points), a fit of degree D − 1 is ≥ 30× worse
    than the fit of degree D (the piece's own round-off level) on some piece: the degree D is
    attained.  When degree D − 1 fits every such piece within 3× as well, it is not — decided for
    pieces of exact degree ≤ 3, whose top coefficient is always far above round-off on the grid;
    a degree-9 coefficient can sit below round-off on a short piece, so there (and in between) the
    draw is undecidable."""
    D = int(pred["degree"])
    if D <= 0:
        return True
    R = np.asarray(obs["piece_residuals"])
    if R.size == 0:
        return None
    top = _piece_degrees(pred, obs) == np.max(pred["piece_degrees"])
    if D >= R.shape[1]:
        return None
    lower, upper = R[top, D - 1], R[top, D]
    ok = ~np.isnan(lower) & ~np.isnan(upper)
    if not ok.any():
        return None
    lower, upper = lower[ok], upper[ok]
    if np.any(lower >= EXACT_GAP * np.maximum(upper, FLOOR)):
        return True
    if np.all(lower <= SAME_FIT * np.maximum(upper, FLOOR)) and np.max(pred["piece_degrees"]) <= 3:
        return False
    return None


def _match(pred, obs, params):
    """Every located breakpoint is within 1e-3 of a predicted one, and every predicted breakpoint
    that the grid can resolve (≥ 2 grid steps from its neighbours and the ends) was located to
    1e-8 (simple roots; 1e-3 for roots of multiplicity ≥ 3, whose sign is below round-off over
    ~(1e-12)^(1/k); an input with a multiple root on one side of a breakpoint can likewise flip
    late, hence the coarse first direction).  One attention
    layer only: the second layer's scores are computed from first-layer outputs with cancellation,
    and a root of multiplicity k (common with integer weights) is located only to ~(1e-12)^{1/k};
    two-layer draws are judged by the degree checks."""
    if params["layers"] != 1:
        return True
    p = np.asarray(pred["breakpoints"], dtype=float)
    tol = np.where(np.asarray(pred["multiplicity"]) > 1, BP_TOL_MULTIPLE, BP_TOL)
    o = np.sort(np.asarray(obs["breakpoints"], dtype=float))
    h = (T1 - T0) / (GRID - 1)
    for t in o:   # no unexplained breakpoint (a flip can leave a multiple root's round-off band late)
        if p.size == 0 or np.min(np.abs(p - t)) > BP_TOL_MULTIPLE:
            return False
    edges = np.r_[T0, p, T1]
    for i, t in enumerate(p):
        if min(edges[i + 1] - edges[i], edges[i + 2] - edges[i + 1]) < 2 * h:
            continue
        if o.size == 0 or np.min(np.abs(o - t)) > tol[i]:
            return False
    return True


CHECK_FIT = "piecewise polynomial of the predicted degree (fit exact to round-off)"
CHECK_EXACT = "degree attained (one degree less fits ≥ 30× worse on a top-degree piece)"
CHECK_BP = "breakpoints at the sign changes of the exact score polynomials (one layer)"
CHECK_BOUND = "exact degree ≤ 3^layers"

claim = Claim(
    id="geometry.relu_attention_spline",
    title="ReLU attention is a continuous piecewise cubic along lines (degree 9 for two layers)",
    statement=("A(X) = ReLU(XW_QW_KᵀXᵀ)XW_V (no softmax, no row normalisation) is continuous and piecewise "
               "polynomial in X: on every line X(t) = X₀ + tΔ each entry is a polynomial of degree ≤ 3 in t "
               "between consecutive sign changes of the score quadratics x_i(t)ᵀW_QW_Kᵀx_j(t).  A ReLU "
               "feed-forward layer after it keeps degree ≤ 3; two stacked attention layers give degree ≤ 9."),
    math=sp.Le(sp.Symbol(r"\deg_t A(X_0 + t\Delta)|_{\mathrm{piece}}"), 3),
    source=Source("Attention is a smoothed cubic spline", "Zehua Lai, Lek-Heng Lim, Yucong Liu", 2024,
                  "seed 002",
                  note=("Talk abstract at seed 002 line 30.  The converse (every spline is an encoder, assuming "
                        "Pierce–Birkhoff) is not part of the claim.  Integer data make the exact side exact "
                        "(integer polynomial coefficients); the predicted degree is the exact degree on the "
                        "draw's pieces (≤ 3 resp. 9, attained generically).  Breakpoints closer than two grid "
                        "steps are not required to be resolved by the grid; breakpoint locations are checked "
                        "for one attention layer (with or without the FFN) only, since the second layer's "
                        "float scores locate roots of multiplicity k only to ~(1e-12)^(1/k).")),
    assumptions=AssumptionSpace([
        Int("n", 2, 6, description="sequence length"),
        Int("d", 1, 4, description="embedding dimension (d_k = d_v = d)"),
        Int("layers", 1, 2, description="stacked attention layers"),
        Choice("ffn", ["none", "relu_ffn"], description="a ReLU feed-forward layer (width 3) after the attention"),
        Choice("qk", ["random", "rank_one"], description="W_QW_Kᵀ random integer, or rank one u vᵀ"),
        Seed("data_seed"),
    ], constraints=["layers == 1 or (n <= 4 and d <= 3)"]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        holds(CHECK_FIT, _fits),
        holds(CHECK_EXACT, _exact),
        holds(CHECK_BP, _match),
        at_most("continuous across breakpoints", "jump_ratio", lambda pred, obs, p: JUMP_RATIO),
        holds(CHECK_BOUND, lambda pred, obs, p: pred["degree"] <= pred["degree_bound"]),
    ],
    mutants=[
        Mutant("near-miss: degree ≤ 2", lambda p, pred: {**pred, "degree": min(pred["degree"], 2)},
               "one degree short: quadratic pieces"),
        Mutant("two attention layers stay cubic", lambda p, pred: {**pred, "degree": min(pred["degree"], 3)},
               "structural: composition read as keeping the degree (it multiplies: 2·3 + 3 = 9)"),
        Mutant("breakpoints of the linear maps", lambda p, pred: {**pred, "breakpoints": _linear_roots(p)},
               "structural: pieces bounded by zeros of the linear forms x_i(t)ᵀW_Q (as in a ReLU MLP)"),
    ],
    breaks=[
        Break("softmax attention", lambda p: {**p, "attention": "softmax"},
              "softmax(S)XW_V is analytic and not polynomial: no piece is cubic", expect=[CHECK_FIT]),
        Break("row-normalised ReLU attention", lambda p: {**p, "attention": "rownorm"},
              "ReLU(S)/Σ_j ReLU(S_ij): rational, not polynomial, on the pieces", expect=[CHECK_FIT]),
    ],
    regimes={"one layer": "layers == 1", "two layers": "layers == 2", "with the ReLU FFN": "ffn == 'relu_ffn'",
             "rank-one W_QW_Kᵀ": "qk == 'rank_one'", "long sequences (n ≥ 5)": "n >= 5", "d = 1": "d == 1"},
    resolution={"breakpoints": 1e-5,
                "degree_bound": "the theorem's upper bound 3^layers: a larger bound is weaker, not wrong",
                "multiplicity": "exact integers: choose the location tolerance (1e-8 simple, 1e-3 multiple)",
                "piece_edges": "locates each observed piece in the exact partition (the breakpoints are resolved)",
                "piece_degrees": "exact integers per piece; the resolved value is the degree D"},
    plots=[
        Plot("one output entry along the line", [
            Series("A(X₀ + tΔ)₁₁", "observation.t", "observation.output"),
            Series("breakpoints (exact)", "prediction.breakpoints", None, role="theory", style="vline"),
        ], xlabel="t", ylabel="output entry"),
    ],
)


def _linear_roots(params):
    """Roots in (T0, T1) of the linear forms (x_i(t)ᵀ M)_a: the breakpoints a piecewise-linear reading
    would predict."""
    w = _w(params)
    out = []
    for i in range(params["n"]):
        c0, c1 = w["X0"][i] @ w["M"], w["D"][i] @ w["M"]
        for a in range(params["d"]):
            if c1[a] != 0:
                t = -c0[a] / c1[a]
                if T0 < t < T1:
                    out.append(float(t))
    return np.array(sorted(out)) if out else np.array([0.5 * (T0 + T1)])
