"""A claim: one theorem, declared as data plus four functions.

A claim module under ``claims/<family>/<name>.py`` binds a module-level name
``claim`` to a :class:`Claim`.  Everything the runner, the report and the
pytest plugin need is here: identity, source, assumptions, ``derive``,
``simulate`` (and optionally ``simulate_batch``), checks, mutants, assumption
breaks and plots.  :func:`validate` turns a malformed definition into a
:class:`ClaimDefinitionError` naming the file and the field.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .checks import Check
from .space import AssumptionSpace, Expr, SpaceError


class ClaimDefinitionError(ValueError):
    """A claim module that cannot be used; the message names file and field."""

    def __init__(self, where: str, field_name: str, problem: str):
        self.where, self.field, self.problem = where, field_name, problem
        super().__init__(f"{where}: field '{field_name}': {problem}")


@dataclass(frozen=True, init=False)
class Source:
    """Where a theorem comes from: the paper, and the collection of abstracts
    (``abstracts="seed 004"``: the file of ``shared/seeds/`` starting with 004)
    in which the project found it.  ``note`` says where the claim narrows or
    departs from the paper's statement."""

    paper: str
    authors: str
    year: int
    abstracts: str  # which collection of source abstracts ("seed 004")
    note: str = ""

    def __init__(self, paper: str, authors: str, year: int, abstracts: str = "", note: str = "", *,
                 seed: str | None = None):
        # ``seed=`` is the field's former name; claims written against it keep loading
        object.__setattr__(self, "paper", paper)
        object.__setattr__(self, "authors", authors)
        object.__setattr__(self, "year", year)
        object.__setattr__(self, "abstracts", abstracts or seed or "")
        object.__setattr__(self, "note", note)

    @property
    def seed(self) -> str:  # the former name
        return self.abstracts

    def as_dict(self) -> dict:
        return {"paper": self.paper, "authors": self.authors, "year": self.year,
                "abstracts": self.abstracts, "note": self.note}


@dataclass
class Mutant:
    """A wrong variant of the theorem.  ``derive(params, prediction)`` returns
    the wrong prediction, built from the true one.  A mutant the checks do not
    refute makes the claim *weak*."""

    name: str
    derive: Callable[[dict, dict], dict]
    description: str = ""


@dataclass
class Break:
    """A departure from the assumptions under which the theorem should fail.
    ``apply(params)`` maps a draw inside the assumptions to the broken
    parameters (returning None skips a draw where the break cannot apply).
    ``derive`` sees the unbroken draw (the theorem's own prediction); only
    ``simulate`` sees the broken one.  ``expect`` names the check(s) that must
    fail: the break is detected only when one of them does.  Without
    ``expect`` any failing check detects it (the report says so)."""

    name: str
    apply: Callable[[dict], dict | None]
    description: str = ""
    expect: Sequence[str] = ()


@dataclass
class Series:
    """One curve or set of points of a plot.  ``x`` / ``y`` are
    ``"prediction.key"``, ``"observation.key"``, ``"params.key"`` or callables
    ``f(prediction, observation, params)``.  ``role`` is ``theory`` or
    ``simulation``; ``style`` is ``line``, ``points``, ``hline`` (y only) or
    ``vline`` (x only)."""

    label: str
    x: Any = None
    y: Any = None
    role: str = "simulation"
    style: str = "line"


@dataclass
class Plot:
    """What to draw for the report.  ``over="example"`` draws arrays from one
    showcase example; ``over="examples"`` draws one point per example."""

    title: str
    series: Sequence[Series]
    xlabel: str = ""
    ylabel: str = ""
    xlog: bool = False
    ylog: bool = False
    over: str = "example"


_ID = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
_VALUE_REF = re.compile(r"^(prediction|observation|params)\.[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class Claim:
    id: str
    title: str
    statement: str
    source: Source
    assumptions: AssumptionSpace
    derive: Callable[[dict], dict]
    simulate: Callable[..., dict]
    checks: Sequence[Check]
    mutants: Sequence[Mutant] = ()
    breaks: Sequence[Break] = ()
    math: Any = None  # a sympy expression (or a callable returning one)
    simulate_batch: Callable[..., list] | None = None
    plots: Sequence[Plot] = ()
    notion: str = ""  # e.g. "mean-square stability"; shown in the report
    notes: str = ""
    inconclusive_fraction: float = 0.2  # allowed share of undecidable examples
    # The finest relative error of a prediction value the checks promise to see:
    # a number for every checked value, or {key: number | "why this value is not resolved"}.
    resolution: float | dict | None = None
    # Conditions on the parameters the statement is really about; each needs a quota of decided draws.
    regimes: dict = field(default_factory=dict)
    # "refuted" for a published statement expected to fail as stated (like pytest's xfail);
    # ``rescue`` names the claim id of the narrowed statement that survives.
    expected: str = "confirmed"
    rescue: str = ""
    # A smaller number of sweep draws than the profile's, for a claim whose draws are costly;
    # ``draws_note`` says why (shown in the report).
    draws: int | None = None
    draws_note: str = ""
    # "verification" (an independent simulation) or "identity" (only a re-computation was possible).
    kind: str = "verification"
    module_path: str = field(default="", repr=False)

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def simulation_uses_prediction(self) -> bool:
        """A simulation that probes where the theory points (e.g. GD at
        (1 ± ε)·2/λ) takes the prediction; then mutants are re-simulated."""
        return "prediction" in inspect.signature(self.simulate).parameters

    @property
    def batch_uses_prediction(self) -> bool:
        return (self.simulate_batch is not None
                and "predictions" in inspect.signature(self.simulate_batch).parameters)

    def math_expr(self):
        return self.math() if callable(self.math) else self.math

    def resolution_promise(self, key: str) -> float | str:
        """The promised relative resolution of one prediction value, or the
        stated reason why it is not resolved."""
        r = DEFAULT_RESOLUTION if self.resolution is None else self.resolution
        if isinstance(r, dict):
            return r.get(key, r.get("*", DEFAULT_RESOLUTION))
        return float(r)


DEFAULT_RESOLUTION = 0.10  # the promise of a claim that states none


def validate(claim: Any, where: str) -> Claim:
    """Check a claim definition; raise ClaimDefinitionError naming the field."""
    if not isinstance(claim, Claim):
        raise ClaimDefinitionError(where, "claim", f"expected a theorycheck.Claim, got {type(claim).__name__}")
    if not isinstance(claim.id, str) or not _ID.match(claim.id):
        raise ClaimDefinitionError(where, "id", f"{claim.id!r} is not of the form 'family.name' (lower case)")
    for name in ("title", "statement"):
        if not isinstance(getattr(claim, name), str) or not getattr(claim, name).strip():
            raise ClaimDefinitionError(where, name, "missing or empty")
    if not isinstance(claim.source, Source):
        raise ClaimDefinitionError(where, "source", "must be a theorycheck.Source(paper, authors, year, seed)")
    if not isinstance(claim.source.abstracts, str):
        raise ClaimDefinitionError(where, "source.abstracts", "must be text, e.g. 'seed 004' (or empty)")
    if not isinstance(claim.assumptions, AssumptionSpace):
        raise ClaimDefinitionError(where, "assumptions", "must be an AssumptionSpace")
    for name in ("derive", "simulate"):
        if not callable(getattr(claim, name)):
            raise ClaimDefinitionError(where, name, "missing: must be a function")
    params = set(inspect.signature(claim.simulate).parameters)
    if not {"params", "ctx"} <= params:
        raise ClaimDefinitionError(where, "simulate", "must take (params, ctx[, prediction])")
    if not claim.checks:
        raise ClaimDefinitionError(where, "checks", "a claim needs at least one check")
    for i, c in enumerate(claim.checks):
        if not isinstance(c, Check):
            raise ClaimDefinitionError(where, f"checks[{i}]", f"{c!r} is not a Check (use theorycheck.checks)")
    _unique(where, "checks", [c.name for c in claim.checks])
    for i, m in enumerate(claim.mutants):
        if not isinstance(m, Mutant) or not callable(m.derive):
            raise ClaimDefinitionError(where, f"mutants[{i}]", "must be Mutant(name, derive)")
    _unique(where, "mutants", [m.name for m in claim.mutants])
    check_names = {c.name for c in claim.checks}
    for i, b in enumerate(claim.breaks):
        if not isinstance(b, Break) or not callable(b.apply):
            raise ClaimDefinitionError(where, f"breaks[{i}]", "must be Break(name, apply)")
        if isinstance(b.expect, str):
            b.expect = (b.expect,)
        unknown = [e for e in b.expect if e not in check_names]
        if unknown:
            raise ClaimDefinitionError(where, f"breaks[{i}].expect",
                                       f"{unknown} are not names of this claim's checks {sorted(check_names)}")
    _unique(where, "breaks", [b.name for b in claim.breaks])
    if not isinstance(claim.regimes, dict):
        raise ClaimDefinitionError(where, "regimes", "must be a dict {name: 'condition over the parameters'}")
    for name, cond in claim.regimes.items():
        try:
            unknown = Expr(cond).names - set(claim.assumptions.names)
        except SpaceError as exc:
            raise ClaimDefinitionError(where, f"regimes[{name!r}]", str(exc)) from None
        if unknown:
            raise ClaimDefinitionError(where, f"regimes[{name!r}]", f"names unknown parameters {sorted(unknown)}")
    _validate_resolution(where, claim.resolution)
    if claim.expected not in ("confirmed", "refuted"):
        raise ClaimDefinitionError(where, "expected", f"{claim.expected!r}: use 'confirmed' or 'refuted'")
    if claim.kind not in ("verification", "identity"):
        raise ClaimDefinitionError(where, "kind", f"{claim.kind!r}: use 'verification' or 'identity'")
    if claim.draws is not None and (not isinstance(claim.draws, int) or claim.draws < 1):
        raise ClaimDefinitionError(where, "draws", "must be a positive number of sweep draws")
    if claim.simulate_batch is not None:
        if not callable(claim.simulate_batch):
            raise ClaimDefinitionError(where, "simulate_batch", "must be a function (params_list, ctx[, predictions])")
        if not {"params_list", "ctx"} <= set(inspect.signature(claim.simulate_batch).parameters):
            raise ClaimDefinitionError(where, "simulate_batch", "must take (params_list, ctx[, predictions])")
    for i, p in enumerate(claim.plots):
        if not isinstance(p, Plot) or p.over not in ("example", "examples"):
            raise ClaimDefinitionError(where, f"plots[{i}]", "must be Plot(..., over='example' | 'examples')")
        for s in p.series:
            for axis in ("x", "y"):
                ref = getattr(s, axis)
                if isinstance(ref, str) and not _VALUE_REF.match(ref):
                    raise ClaimDefinitionError(
                        where, f"plots[{i}].{s.label}.{axis}",
                        f"{ref!r}: use 'prediction.KEY', 'observation.KEY', 'params.KEY' or a callable")
    if not 0 <= claim.inconclusive_fraction < 1:
        raise ClaimDefinitionError(where, "inconclusive_fraction", "must be in [0, 1)")
    return claim


def _validate_resolution(where, r):
    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1

    def ok(v):
        if isinstance(v, dict):  # one-sided promise: {"minus": 0.01} or {"plus": 0.01}
            return bool(v) and set(v) <= {"minus", "plus"} and all(number(x) for x in v.values())
        return (isinstance(v, str) and v.strip()) or number(v)
    if r is None:
        return
    if isinstance(r, dict):
        bad = {k: v for k, v in r.items() if not ok(v)}
        if bad:
            raise ClaimDefinitionError(where, "resolution", f"{bad}: each value is a relative δ in (0, 1), "
                                       "{'minus': δ} / {'plus': δ} for one side, or a sentence saying why the "
                                       "value is not resolved")
    elif not ok(r) or isinstance(r, str):
        raise ClaimDefinitionError(where, "resolution", f"{r!r}: a relative δ in (0, 1), or a dict per key")


def _unique(where, field_name, names):
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ClaimDefinitionError(where, field_name, f"duplicate names {dup}")


__all__ = ["Claim", "Source", "Mutant", "Break", "Plot", "Series", "ClaimDefinitionError", "validate",
           "SpaceError", "Expr"]
