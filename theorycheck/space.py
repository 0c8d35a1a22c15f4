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

    def strategy(self, values):
        lo, hi = self.bounds(values)
        assume(lo <= hi)
        return st.integers(lo, hi)

    def sample(self, values, rng):
        lo, hi = self.bounds(values)
        return None if lo > hi else int(rng.integers(lo, hi + 1))

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

    def strategy(self, values):
        lo, hi = self.bounds(values)
        assume(lo <= hi)
        if self.log:
            # shrink towards the lower end in log space, a readable minimum
            return st.floats(0.0, 1.0).map(lambda u: float(lo * (hi / lo) ** u))
        return st.floats(lo, hi, allow_nan=False, allow_infinity=False)

    def sample(self, values, rng):
        lo, hi = self.bounds(values)
        if lo > hi:
            return None
        u = float(rng.random())
        return float(lo * (hi / lo) ** u) if self.log else lo + (hi - lo) * u

    def grid(self, values, points):
        lo, hi = self.bounds(values)
        if lo > hi:
            return []
        if self.log:
            return [float(v) for v in np.geomspace(lo, hi, points)]
        return [float(v) for v in np.linspace(lo, hi, points)]

    def describe(self):
        return {**super().describe(), "range": [str(self.lo), str(self.hi)], "log": self.log}


@dataclass
class Choice(Param):
    options: Sequence = ()

    kind = "choice"

    def __init__(self, name, options, description=""):
        super().__init__(name, description)
        self.options = tuple(options)
        if not self.options:
            raise SpaceError(f"parameter {name!r}: empty list of options")

    def strategy(self, values):
        return st.sampled_from(self.options)

    def sample(self, values, rng):
        return self.options[int(rng.integers(len(self.options)))]

    def grid(self, values, points):
        return list(self.options)

    def describe(self):
        return {**super().describe(), "options": [str(o) for o in self.options]}


@dataclass
class Seed(Param):
    """An integer that seeds data generated inside derive / simulate (random
    matrices, labels).  Shrinks towards 0."""

    kind = "seed"

    def strategy(self, values):
        return st.integers(0, 2**31 - 1)

    def sample(self, values, rng):
        return int(rng.integers(0, 2**31 - 1))

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
        """A hypothesis strategy of parameter dicts inside the assumptions."""
        params, fixed, space = self.params, self.fixed, self

        @st.composite
        def draws(draw):
            values = dict(fixed)
            for p in params:
                values[p.name] = draw(p.strategy(values))
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
