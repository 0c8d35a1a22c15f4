"""Typed assumption parameters and the constraints between them.

An :class:`AssumptionSpace` is data; from it come hypothesis strategies (fuzz +
shrink), grids and seeded random batches (for batched sweeps).  Bounds may be
expressions of parameters declared earlier (``Int("d", lo="K - 1", hi=8)``);
constraints are expressions over any parameters (``"d >= K - 1"``).  Both are
parsed once, and a name that is not a declared parameter is a definition
error.
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

_SAFE_FUNCS = {"min": min, "max": max, "abs": abs, "sqrt": math.sqrt, "log": math.log,
               "exp": math.exp, "floor": math.floor, "ceil": math.ceil, "int": int}


class SpaceError(ValueError):
    """A malformed assumption space (the message names the field)."""


class Expr:
    """A small arithmetic / comparison expression over parameter names."""

    def __init__(self, source: str | int | float):
        self.source = source
        if isinstance(source, (int, float)):
            self.names: set[str] = set()
            self._code = None
            return
        try:
            tree = ast.parse(str(source), mode="eval")
        except SyntaxError as exc:
            raise SpaceError(f"cannot parse expression {source!r}: {exc.msg}") from None
        for node in ast.walk(tree):
            if isinstance(node, (ast.Attribute, ast.Lambda, ast.Subscript)):
                raise SpaceError(f"expression {source!r} may only use names, numbers and operators")
        self.names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - set(_SAFE_FUNCS)
        self._code = compile(tree, f"<expr {source}>", "eval")

    def __call__(self, values: dict) -> Any:
        if self._code is None:
            return self.source
        return eval(self._code, {"__builtins__": {}}, {**_SAFE_FUNCS, **values})  # noqa: S307 - parsed & name-checked

    def __repr__(self) -> str:
        return str(self.source)


@dataclass
class Param:
    name: str
    description: str = ""

    kind = "param"

    def names_used(self) -> set[str]:
        return set()

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "description": self.description}

    def from_unit(self, u: float, values: dict):
        """The value at quantile ``u`` ∈ [0, 1) of this parameter's range
        (given the values of the parameters before it); None when the range is empty."""
        raise NotImplementedError

    def simpler(self, v, values: dict) -> list:
        """Candidate values simpler than ``v`` (towards the lower bound / round numbers), best first."""
        return []


UNIT_BITS = 20
# one irrational step per parameter (fractional parts of square roots of primes)
_STEPS = tuple(math.sqrt(p) % 1 for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53))


def unit_strategy(index: int = 0) -> st.SearchStrategy[float]:
    """A quantile in [0, 1) for one parameter drawn alone (see
    ``AssumptionSpace.strategy`` for the joint draw)."""
    step = _STEPS[index % len(_STEPS)]
    return st.integers(0, 2**UNIT_BITS - 1).map(lambda k: (k * step) % 1.0)


def _mix(h: int, k: int) -> int:
    """A 61-bit running hash of the integers drawn so far (splitmix-style)."""
    h = (h ^ (k + 0x9E3779B97F4A7C15)) & 0xFFFFFFFFFFFFFFFF
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return h ^ (h >> 31)


def simple_float(x: float, digits: int = 6) -> float:
    """``x`` rounded to ``digits`` significant digits: readable draws, never subnormal."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    return float(f"{x:.{digits}g}")


def _clip(x, lo, hi):
    return min(max(x, lo), hi)


def _bound(value) -> Expr:
    return value if isinstance(value, Expr) else Expr(value)


@dataclass
class Int(Param):
    lo: Any = 0
    hi: Any = 10

    kind = "int"

    def __init__(self, name, lo, hi, description=""):
        super().__init__(name, description)
        self.lo, self.hi = _bound(lo), _bound(hi)

    def names_used(self):
        return self.lo.names | self.hi.names

    def bounds(self, values):
        return int(math.ceil(self.lo(values))), int(math.floor(self.hi(values)))

    def strategy(self, values, index=0):
        lo, hi = self.bounds(values)
        assume(lo <= hi)
        return unit_strategy(index).map(lambda u: self.from_unit(u, values))

    def sample(self, values, rng):
        lo, hi = self.bounds(values)
        return None if lo > hi else int(rng.integers(lo, hi + 1))

    def from_unit(self, u, values):
        lo, hi = self.bounds(values)
        if lo > hi:
            return None
        return int(min(hi, lo + math.floor(u * (hi - lo + 1))))  # stratified: equal mass per integer

    def simpler(self, v, values):
        lo, hi = self.bounds(values)
        out = [lo] + [lo + (v - lo) // 2 ** k for k in range(6, 0, -1)] + [v - 1]
        return [c for c in dict.fromkeys(out) if lo <= c < v]

    def grid(self, values, points):
        lo, hi = self.bounds(values)
        if lo > hi:
            return []
        return sorted({int(round(v)) for v in np.linspace(lo, hi, min(points, hi - lo + 1))})

    def describe(self):
        return {**super().describe(), "range": [str(self.lo), str(self.hi)]}


@dataclass
class Float(Param):
    lo: Any = 0.0
    hi: Any = 1.0
    log: bool = False

    kind = "float"

    def __init__(self, name, lo, hi, log=False, description=""):
        super().__init__(name, description)
        self.lo, self.hi, self.log = _bound(lo), _bound(hi), log

    def names_used(self):
        return self.lo.names | self.hi.names

    def bounds(self, values):
        return float(self.lo(values)), float(self.hi(values))

    def strategy(self, values, index=0):
        lo, hi = self.bounds(values)
        assume(lo <= hi)
        return unit_strategy(index).map(lambda u: self._at(u, lo, hi))

    def _at(self, u, lo, hi):
        x = lo * (hi / lo) ** u if self.log else lo + (hi - lo) * u
        return _clip(simple_float(x), lo, hi)

    def sample(self, values, rng):
        lo, hi = self.bounds(values)
        if lo > hi:
            return None
        return self._at(float(rng.random()), lo, hi)

    def from_unit(self, u, values):
        lo, hi = self.bounds(values)
        return None if lo > hi else self._at(u, lo, hi)

    def simpler(self, v, values):
        lo, hi = self.bounds(values)
        out = [lo]
        for digits in (1, 2, 3):
            out.append(_clip(simple_float(v, digits), lo, hi))
        if self.log and lo > 0 and v > 0:  # halfway towards the lower bound, in the scale of the range
            out += [lo * (v / lo) ** f for f in (0.25, 0.5, 0.75)]
        else:
            out += [lo + (v - lo) * f for f in (0.25, 0.5, 0.75)]
        out = [simple_float(c, 3) if c not in (lo, hi) else c for c in out]
        return [c for c in dict.fromkeys(out) if lo <= c <= hi and _simpler_float(c, v, lo)]

    def grid(self, values, points):
        lo, hi = self.bounds(values)
        if lo > hi:
            return []
        if self.log:
            return [float(v) for v in np.geomspace(lo, hi, points)]
        return [float(v) for v in np.linspace(lo, hi, points)]

    def describe(self):
        return {**super().describe(), "range": [str(self.lo), str(self.hi)], "log": self.log}


def _digits(x: float) -> int:
    """Significant digits of a float as written (0.42 -> 2, 0.417 -> 3)."""
    m = f"{abs(x):.15g}".split("e")[0].replace(".", "").lstrip("0")
    return len(m.rstrip("0")) if m else 0


def _simpler_float(c, v, lo) -> bool:
    """Fewer significant digits, or as many and closer to the lower bound (a
    well-founded order: shrinking always ends)."""
    return (_digits(c), abs(c - lo)) < (_digits(v), abs(v - lo))


@dataclass
class Choice(Param):
    options: Sequence = ()

    kind = "choice"

    def __init__(self, name, options, description=""):
        super().__init__(name, description)
        self.options = tuple(options)
        if not self.options:
            raise SpaceError(f"parameter {name!r}: empty list of options")

    def strategy(self, values, index=0):
        return st.sampled_from(self.options)

    def sample(self, values, rng):
        return self.options[int(rng.integers(len(self.options)))]

    def from_unit(self, u, values):
        return self.options[min(len(self.options) - 1, int(math.floor(u * len(self.options))))]

    def simpler(self, v, values):
        i = self.options.index(v) if v in self.options else len(self.options)
        return list(self.options[:i])

    def grid(self, values, points):
        return list(self.options)

    def describe(self):
        return {**super().describe(), "options": [str(o) for o in self.options]}


@dataclass
class Seed(Param):
    """An integer that seeds data generated inside derive / simulate (random
    matrices, labels).  Shrinks towards 0."""

    kind = "seed"

    def strategy(self, values, index=0):
        return unit_strategy(index).map(lambda u: self.from_unit(u, values))

    def sample(self, values, rng):
        return int(rng.integers(0, 2**31 - 1))

    def from_unit(self, u, values):
        return int(u * (2**31 - 1))

    def simpler(self, v, values):
        return [c for c in (0, 1, 2, 3) if c < v]

    def grid(self, values, points):
        return list(range(points))

    def describe(self):
        return {**super().describe(), "range": ["0", str(2**31 - 1)]}


class AssumptionSpace:
    """Ordered parameters plus constraints between them."""

    def __init__(self, params: Sequence[Param], constraints: Sequence[str] = (), fixed: dict | None = None):
        self.params = list(params)
        self.fixed = dict(fixed or {})
        self.constraints = [Expr(c) for c in constraints]
        self._validate()

    # ---- definition checks -------------------------------------------------
    def _validate(self):
        seen: set[str] = set(self.fixed)
        for p in self.params:
            if not isinstance(p, Param):
                raise SpaceError(f"assumptions: {p!r} is not a parameter (Int, Float, Choice, Seed)")
            if p.name in seen:
                raise SpaceError(f"assumptions: parameter {p.name!r} declared twice")
            unknown = p.names_used() - seen
            if unknown:
                raise SpaceError(
                    f"assumptions: bounds of {p.name!r} use {sorted(unknown)}, "
                    "which are not parameters declared before it")
            seen.add(p.name)
            if isinstance(p, (Int, Float)) and not p.names_used():
                lo, hi = p.bounds({})
                if lo > hi:
                    raise SpaceError(f"assumptions: parameter {p.name!r} has an empty range [{lo}, {hi}]")
                if isinstance(p, Float) and p.log and lo <= 0:
                    raise SpaceError(f"assumptions: log-scaled {p.name!r} needs a positive lower bound")
        for c in self.constraints:
            unknown = c.names - seen
            if unknown:
                raise SpaceError(f"constraint {c.source!r} names unknown parameters {sorted(unknown)}")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params] + list(self.fixed)

    def satisfied(self, values: dict) -> bool:
        return all(bool(c(values)) for c in self.constraints)

    def describe(self) -> dict:
        return {"parameters": [p.describe() for p in self.params],
                "fixed": {k: str(v) for k, v in self.fixed.items()},
                "constraints": [str(c.source) for c in self.constraints]}

    # ---- draws ---------------------------------------------------------------
    def strategy(self) -> st.SearchStrategy[dict]:
        """A hypothesis strategy of parameter dicts inside the assumptions.

        Hypothesis favours small integers and, when it opens a new branch,
        completes it with zeros; read as quantiles those pile draws on the
        lower bounds.  Here each parameter's quantile is
        frac(offset + k·α): α an irrational step per parameter (small k
        spread like a low-discrepancy sequence) and the offset a hash of the
        integers drawn before it (a zero completion lands somewhere new every
        time).  The corners themselves are tried explicitly by the search."""
        params, fixed, space = self.params, self.fixed, self

        @st.composite
        def draws(draw):
            values = dict(fixed)
            h = 0
            for i, p in enumerate(params):
                k = draw(st.integers(0, 2**UNIT_BITS - 1))
                h = _mix(h, k)
                u = ((h >> 11) / 2**53 + k * _STEPS[i % len(_STEPS)]) % 1.0
                v = p.from_unit(u, values)
                assume(v is not None)
                values[p.name] = v
            assume(space.satisfied(values))
            return values

        return draws()

    def sample(self, n: int, seed: int = 0, max_tries: int = 100) -> list[dict]:
        """``n`` seeded random draws (for batched sweeps), constraints kept."""
        rng = np.random.default_rng(seed)
        out: list[dict] = []
        tries = 0
        while len(out) < n and tries < n * max_tries:
            tries += 1
            values = dict(self.fixed)
            for p in self.params:
                v = p.sample(values, rng)
                if v is None:
                    break
                values[p.name] = v
            else:
                if self.satisfied(values):
                    out.append(values)
        if len(out) < n:
            raise SpaceError(f"only {len(out)} of {n} random draws satisfied the constraints")
        return out

    def from_unit(self, u) -> dict | None:
        """The draw at the point ``u`` of the unit cube (one coordinate per
        parameter, in order); None when a dependent range is empty or a
        constraint fails."""
        values = dict(self.fixed)
        for p, x in zip(self.params, u):
            v = p.from_unit(float(x), values)
            if v is None:
                return None
            values[p.name] = v
        return values if self.satisfied(values) else None

    def design(self, n: int, seed: int, skip: int = 0) -> list[dict]:
        """``n`` draws of a scrambled Sobol design over the space (scipy.stats.qmc),
        from position ``skip`` on: each parameter's coordinate is mapped through
        its range (log scale and dependent bounds respected; integers and
        choices get equal shares), draws outside the constraints are dropped
        and later points of the sequence take their place."""
        return [p for _, p in self.design_points(n, seed, skip)]

    def design_points(self, n: int, seed: int, skip: int = 0, where=None, max_points: int = 2**18):
        """(position in the sequence, draw) pairs; ``where`` filters draws (a regime)."""
        from scipy.stats import qmc

        out: list[tuple[int, dict]] = []
        if n <= 0:
            return out
        dim = max(1, len(self.params))
        sobol = qmc.Sobol(dim, scramble=True, seed=np.random.default_rng(seed % 2**63))
        pos = 0
        block = 256
        while len(out) < n and pos < skip + max_points:
            pts = sobol.random(block)
            for i, u in enumerate(pts):
                at = pos + i
                if at < skip:
                    continue
                d = self.from_unit(u)
                if d is not None and (where is None or where(d)):
                    out.append((at, d))
                    if len(out) == n:
                        break
            pos += block
            block = min(block * 2, 2**14)
        if len(out) < n and where is None:
            raise SpaceError(f"only {len(out)} of {n} design points satisfied the constraints")
        return out

    def grid(self, points: int = 3) -> list[dict]:
        """Every combination of ``points`` values per axis that satisfies the constraints."""
        out: list[dict] = [dict(self.fixed)]
        for p in self.params:
            out = [{**v, p.name: x} for v in out for x in p.grid(v, points)]
        return [v for v in out if self.satisfied(v)]


def canonical(values: dict) -> str:
    """A stable text form of a parameter dict (used to derive seeds)."""
    def fmt(v):
        if isinstance(v, float):
            return repr(float(v))
        return repr(v)
    return "{" + ", ".join(f"{k}: {fmt(values[k])}" for k in sorted(values)) + "}"


__all__ = ["AssumptionSpace", "Int", "Float", "Choice", "Seed", "Param", "SpaceError", "Expr", "canonical"]
