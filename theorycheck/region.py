"""Where a theorem fails: a short readable rule over the parameters that
separates the failing draws of the sweep from the passing ones.

The sweep is a space-filling design over the assumptions, so the share of its
decided draws that fail estimates the size of the failure region, and a rule
learned from them says which assumption would rescue the statement ("fails
only when n ≤ d", "holds when c·r < 0.5").  The rule is a threshold on one
parameter, or on a difference, ratio or product of two, or a decision tree of
depth ≤ 2 over those (scikit-learn's ``DecisionTreeClassifier`` when it is
installed; otherwise a greedy threshold search).  Its accuracy is measured on
the same draws and reported next to the majority baseline, so a reader can
tell a clean boundary from scattered failures.

Computed in the parent from plain draw records (``{params, source, status}``);
no claim code runs here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np

PASS, FAIL = "pass", "fail"
SIMPLER = 0.005      # accuracy a derived feature (or a tree) must add over a simpler rule to be preferred
MAX_PARAMS = 8       # pairwise features only among the first MAX_PARAMS numeric parameters
MIN_FAILING = 3      # fewer failing draws than this: any rule would only describe those points


@dataclass
class Feature:
    name: str            # as the rule prints it: "n", "n − d", "n / d", "n·d", "label = a"
    values: np.ndarray
    integer: bool
    kind: str            # raw | diff | ratio | product | choice
    parts: tuple = ()    # the parameter names
    complexity: int = 0

    def condition(self, threshold: float, side: str, lo: float, hi: float) -> str:
        """The readable condition ``feature < t`` (side "left") or ``≥ t``
        ("right"), for a split between observed values ``lo`` < ``hi``."""
        if self.kind == "choice":
            return self.name.replace(" = ", " ≠ ") if side == "left" else self.name
        if self.integer:
            k = int(math.floor(lo + 1e-9))  # left: feature ≤ k; right: feature ≥ k + 1
            return _int_condition(self, k, side)
        t = nice_between(lo, hi)
        return _float_condition(self, t, side)


def _fmt(x: float) -> str:
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.6g}"


def _int_condition(f: Feature, k: int, side: str) -> str:
    if f.kind == "diff":  # a − b ≤ k  ⇔  a ≤ b + k
        a, b = f.parts
        if side == "left":
            return f"{a} ≤ {b}" if k == 0 else f"{a} < {b}" if k == -1 else f"{a} ≤ {b} {_signed(k)}"
        return f"{a} > {b}" if k == 0 else f"{a} ≥ {b}" if k == -1 else f"{a} > {b} {_signed(k)}"
    return f"{f.name} ≤ {k}" if side == "left" else f"{f.name} ≥ {k + 1}"


def _signed(k: float) -> str:
    return f"+ {_fmt(k)}" if k >= 0 else f"− {_fmt(-k)}"


def _float_condition(f: Feature, t: float, side: str) -> str:
    op = "<" if side == "left" else "≥"
    if f.kind == "diff":
        a, b = f.parts
        return f"{a} {op} {b}" if t == 0 else f"{a} {op} {b} {_signed(t)}"
    if f.kind == "ratio":
        a, b = f.parts
        return f"{a} {op} {b}" if t == 1 else f"{a} {op} {_fmt(t)}·{b}"
    return f"{f.name} {op} {_fmt(t)}"


def nice_between(lo: float, hi: float) -> float:
    """The number with the fewest significant digits in (lo, hi] (the split
    point of a rule ``x < t``: every left value below it, every right value at
    or above it)."""
    if not lo < hi:
        return hi
    if lo < 0 <= hi:
        return 0.0
    mid = (lo + hi) / 2
    for digits in range(1, 16):
        for c in (float(f"{mid:.{digits}g}"), float(f"{hi:.{digits}g}")):
            if lo < c <= hi:
                return c
    return mid


def features(params: list[dict], assumptions: dict) -> list[Feature]:
    """The parameters a rule may use (seeds excluded: they are not
    assumptions), and pairwise differences, ratios and products of the
    numeric ones."""
    described = (assumptions or {}).get("parameters") or []
    kinds = {p.get("name"): p.get("kind") for p in described if isinstance(p, dict)}
    names = [n for n in kinds if kinds[n] in ("int", "float", "choice")]
    if not names and params:
        names = [k for k, v in params[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    out: list[Feature] = []
    numeric: list[Feature] = []
    for name in names:
        raw = [p.get(name) for p in params]
        if kinds.get(name) == "choice" or any(isinstance(v, str) for v in raw):
            options = sorted({json_key(v) for v in raw})
            if len(options) < 2:
                continue
            for opt in options:
                vals = np.array([1.0 if json_key(v) == opt else 0.0 for v in raw])
                out.append(Feature(f"{name} = {opt}", vals, True, "choice", (name,), 0))
            continue
        try:
            vals = np.array([float(v) for v in raw], dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if not np.all(np.isfinite(vals)) or np.ptp(vals) == 0:
            continue
        integer = kinds.get(name) == "int" or bool(np.all(vals == np.round(vals)))
        f = Feature(name, vals, integer, "raw", (name,), 0)
        out.append(f)
        numeric.append(f)
    for a, b in combinations(numeric[:MAX_PARAMS], 2):
        x, y = a.values, b.values
        both_int = a.integer and b.integer
        out.append(Feature(f"{a.name} − {b.name}", x - y, both_int, "diff", (a.name, b.name), 1))
        if np.all(y > 0) and np.all(x >= 0):
            out.append(Feature(f"{a.name} / {b.name}", x / y, False, "ratio", (a.name, b.name), 1))
        elif np.all(x > 0) and np.all(y >= 0):
            out.append(Feature(f"{b.name} / {a.name}", y / x, False, "ratio", (b.name, a.name), 1))
        out.append(Feature(f"{a.name}·{b.name}", x * y, both_int, "product", (a.name, b.name), 1))
    return [f for f in out if np.all(np.isfinite(f.values)) and np.ptp(f.values) > 0]


def json_key(v) -> str:
    return v if isinstance(v, str) else repr(v)


# ---- one threshold --------------------------------------------------------------------

@dataclass
class Split:
    feature: Feature
    lo: float            # largest value on the left
    hi: float            # smallest value on the right
    fail_left: bool      # which side the rule calls failing
    correct: int

    def side_condition(self, side: str) -> str:
        return self.feature.condition((self.lo + self.hi) / 2, side, self.lo, self.hi)


def best_split(f: Feature, y: np.ndarray, mask: np.ndarray | None = None) -> Split | None:
    """The threshold on ``f`` that classifies the (masked) draws best."""
    idx = np.flatnonzero(mask) if mask is not None else np.arange(len(y))
    if idx.size < 2:
        return None
    v, t = f.values[idx], y[idx]
    order = np.argsort(v, kind="stable")
    v, t = v[order], t[order]
    fails_left = np.cumsum(t)[:-1]                  # failing draws at positions ≤ i
    n_left = np.arange(1, len(v))
    passes_left = n_left - fails_left
    total_fail = int(t.sum())
    passes_right = (len(v) - total_fail) - passes_left
    fails_right = total_fail - fails_left
    a = fails_left + passes_right                   # left = fail
    b = passes_left + fails_right                   # left = pass
    ok = v[1:] > v[:-1]                             # only between distinct values
    if not np.any(ok):
        return None
    score = np.where(ok, np.maximum(a, b), -1)
    i = int(np.argmax(score))
    return Split(f, float(v[i]), float(v[i + 1]), bool(a[i] >= b[i]), int(score[i]))


# ---- depth-2 trees ----------------------------------------------------------------------

@dataclass
class Node:
    split: Split | None = None      # None: a leaf
    fail: bool = False              # a leaf's class
    left: "Node | None" = None
    right: "Node | None" = None


def _leaf(y: np.ndarray, mask: np.ndarray) -> Node:
    n = int(mask.sum())
    return Node(fail=bool(n and y[mask].sum() * 2 > n))


def _grow_greedy(feats: list[Feature], y: np.ndarray, mask: np.ndarray, depth: int) -> Node:
    leaf = _leaf(y, mask)
    if depth == 0 or y[mask].min(initial=1) == y[mask].max(initial=0):
        return leaf
    best = None
    for f in feats:
        s = best_split(f, y, mask)
        if s is not None and (best is None or s.correct > best.correct):
            best = s
    if best is None:
        return leaf
    left = mask & (best.feature.values <= best.lo)
    right = mask & (best.feature.values >= best.hi)
    return Node(best, left=_grow_greedy(feats, y, left, depth - 1), right=_grow_greedy(feats, y, right, depth - 1))


def _grow_sklearn(feats: list[Feature], y: np.ndarray, depth: int) -> Node | None:
    try:
        from sklearn.tree import DecisionTreeClassifier
    except Exception:  # optional: the greedy search stands in
        return None
    X = np.column_stack([f.values for f in feats])
    clf = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, y)
    tree = clf.tree_

    def build(node: int, mask: np.ndarray) -> Node:
        if tree.children_left[node] < 0:
            return _leaf(y, mask) if mask.any() else Node(fail=bool(np.argmax(tree.value[node][0]) == 1))
        f = feats[tree.feature[node]]
        thr = tree.threshold[node]
        lmask, rmask = mask & (f.values <= thr), mask & (f.values > thr)
        lo = float(f.values[lmask].max()) if lmask.any() else float(thr)
        hi = float(f.values[rmask].min()) if rmask.any() else float(thr)
        return Node(Split(f, lo, hi, False, 0), left=build(tree.children_left[node], lmask),
                    right=build(tree.children_right[node], rmask))
    return build(0, np.ones(len(y), dtype=bool))


def predict(node: Node, i: int) -> bool:
    while node.split is not None:
        node = node.left if node.split.feature.values[i] <= node.split.lo else node.right
    return node.fail


def _terms(node: Node, want_fail: bool) -> list[list[str]]:
    """The region where the tree predicts ``want_fail``, as a disjunction of conjunctions."""
    if node.split is None:
        return [[]] if node.fail == want_fail else []
    left, right = _terms(node.left, want_fail), _terms(node.right, want_fail)
    if left == [[]] and right == [[]]:
        return [[]]
    out = [[node.split.side_condition("left")] + t for t in left]
    out += [[node.split.side_condition("right")] + t for t in right]
    return out


def _text(terms: list[list[str]]) -> str:
    if terms == [[]]:
        return "everywhere"
    parts = [" and ".join(t) for t in terms]
    return " or ".join(f"({p})" if " and " in p and len(parts) > 1 else p for p in parts)


def _complexity(node: Node) -> int:
    if node.split is None:
        return 0
    return 1 + node.split.feature.complexity + _complexity(node.left) + _complexity(node.right)


# ---- the region -------------------------------------------------------------------------

def failure_region(draws: list[dict], assumptions: dict | None = None, *, source: str = "sweep",
                   max_depth: int = 2) -> dict | None:
    """The share of decided sweep draws that fail and a rule separating them
    from the passing ones; None when the sweep decided no draw."""
    decided = [d for d in draws if str(d.get("source", "")).split(":")[0] == source
               and d.get("status") in (PASS, FAIL) and isinstance(d.get("params"), dict)]
    n = len(decided)
    if n == 0:
        return None
    y = np.array([d["status"] == FAIL for d in decided], dtype=np.int64)
    failing = int(y.sum())
    out = {"source": source, "draws": n, "failing": failing, "share": round(failing / n, 4),
           "rule": None, "holds": None, "accuracy": None, "baseline": round(max(failing, n - failing) / n, 4),
           "method": None, "note": ""}
    if failing == 0:
        out["note"] = (f"no {source} draw failed: the failure region is smaller than about 1/{n} of the "
                       "assumption space (the failure was found by a targeted draw)")
        return out
    if failing == n:
        out.update(rule="fails everywhere", holds="nowhere", accuracy=1.0, method="every draw failed")
        return out
    if failing < MIN_FAILING:
        out["note"] = (f"only {failing} failing {source} draw(s): too few for a rule (the failure region is "
                       f"about {failing}/{n} of the assumption space)")
        return out
    feats = features([d["params"] for d in decided], assumptions or {})
    if not feats:
        out["note"] = "no parameter varies across the decided draws"
        return out
    everywhere = np.ones(n, dtype=bool)
    # one threshold: the simplest readable rule, preferred when a tree adds little
    stumps = [s for s in (best_split(f, y) for f in feats) if s is not None]
    best_stump = max(stumps, key=lambda s: (s.correct / n - SIMPLER * s.feature.complexity, -feats.index(s.feature)))
    stump_node = Node(best_stump, left=Node(fail=best_stump.fail_left), right=Node(fail=not best_stump.fail_left))
    candidates = [(stump_node, "one threshold")]
    if max_depth >= 2:
        raw = [f for f in feats if f.complexity == 0]
        for subset in ([raw] if len(raw) == len(feats) else [raw, feats]):
            if not subset:
                continue
            tree = _grow_sklearn(subset, y, max_depth)
            method = f"decision tree of depth {max_depth} (scikit-learn)"
            if tree is None:
                tree = _grow_greedy(subset, y, everywhere, max_depth)
                method = f"decision tree of depth {max_depth} (greedy threshold search)"
            if tree.split is not None:
                candidates.append((tree, method))

    def score(item):
        node, _ = item
        acc = sum(predict(node, i) == bool(y[i]) for i in range(n)) / n
        return acc - SIMPLER * _complexity(node), acc
    scored = [(score(c), c) for c in candidates]
    (_, acc), (node, method) = max(scored, key=lambda s: s[0][0])
    fail_terms, pass_terms = _terms(node, True), _terms(node, False)
    if not fail_terms:
        out.update(note="no rule of this size separates the failing draws: they are scattered",
                   accuracy=round(acc, 4), method=method)
        return out
    out.update(rule=f"fails when {_text(fail_terms)}", holds=f"holds when {_text(pass_terms)}"
               if pass_terms else "holds nowhere", accuracy=round(acc, 4), method=method)
    return out


def describe(region: dict | None) -> str:
    """One line for the terminal, ``show`` and the pytest failure text."""
    if not region:
        return ""
    share = f"{region['failing']} of {region['draws']} {region['source']} draws fail ({region['share']:.0%})"
    if region.get("rule"):
        extra = "" if region["rule"] == "fails everywhere" else (
            f" — accuracy {region['accuracy']:.0%} on those draws (majority guess: {region['baseline']:.0%}); "
            f"{region['holds']}")
        return f"{share}; {region['rule']}{extra}"
    return f"{share}; {region['note']}" if region.get("note") else share


__all__ = ["failure_region", "describe", "features", "nice_between"]
