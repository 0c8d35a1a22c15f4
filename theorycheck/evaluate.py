"""Draws -> derive / simulate -> checks -> outcomes, for one claim.

Everything that touches claim code goes through :func:`guarded`: claim code
gets copies (the prediction it receives cannot change the one the checks
read), global torch / process state it changes is put back, and whatever it
raises is sorted here: :class:`Inconclusive` makes the draw inconclusive,
``SystemExit`` / ``KeyboardInterrupt`` / any other exception make it an
*error* of the claim code, named in one line (the traceback is kept for the
results file and ``--debug``).

One draw is evaluated for the truth and, on the same observation, for every
mutant and every perturbation of a checked prediction value (the resolution
measurement); the observation is simulated again only when the simulation
reads the prediction.
"""
from __future__ import annotations

import copy
import math
import os
import re
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .claim import Claim
from .results import to_jsonable
from .sim.context import SimContext, derive_seed
from .space import canonical
from .verdict import ERROR, FAIL, INCONCLUSIVE, PASS, ExampleOutcome, Inconclusive, outcome_from_evidence

# Relative perturbations of a prediction value, coarse to fine.  The finest
# ones are tried only when observations are cached (checks are cheap then).
DELTAS = (0.1, 0.03, 0.01, 0.003, 0.001, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6)
RESIM_DELTAS = DELTAS[:5]


class ClaimCodeError(Exception):
    """Claim code stopped a draw; ``kind`` is ``inconclusive`` or ``error``."""

    def __init__(self, kind: str, message: str, trace: str = ""):
        super().__init__(message)
        self.kind, self.message, self.trace = kind, message, trace


def describe_exception(exc: BaseException) -> str:
    """One line naming the cause: the exception type and its message."""
    if isinstance(exc, SystemExit):
        return f"claim code called sys.exit({exc.code!r})"
    if isinstance(exc, KeyboardInterrupt):
        return "claim code raised KeyboardInterrupt"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@contextmanager
def restored_state():
    """Put back the global state claim code may change: torch's default dtype,
    grad mode and default device, and the working directory."""
    dtype, grad, cwd = torch.get_default_dtype(), torch.is_grad_enabled(), os.getcwd()
    get_device = getattr(torch, "get_default_device", None)
    device = get_device() if get_device else None
    try:
        yield
    finally:
        if torch.get_default_dtype() != dtype:
            torch.set_default_dtype(dtype)
        if torch.is_grad_enabled() != grad:
            torch.set_grad_enabled(grad)
        if device is not None and get_device() != device:
            torch.set_default_device(device)
        try:
            if os.getcwd() != cwd:
                os.chdir(cwd)
        except OSError:
            os.chdir(cwd)


@contextmanager
def sorted_exceptions(where: str, interrupts_are_users: bool = False):
    """Turn what claim code raises into a :class:`ClaimCodeError`."""
    try:
        yield
    except Inconclusive as exc:
        raise ClaimCodeError(INCONCLUSIVE, str(exc) or "inconclusive") from None
    except KeyboardInterrupt:
        if interrupts_are_users:
            raise
        raise ClaimCodeError(ERROR, f"{where}: claim code raised KeyboardInterrupt") from None
    except ClaimCodeError:
        raise
    except (Exception, SystemExit) as exc:
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
        raise ClaimCodeError(ERROR, f"{where}: {describe_exception(exc)}", trace) from None


@contextmanager
def guarded(where: str, interrupts_are_users: bool = False):
    """Run claim code: restore the global state it may change, and turn what
    it raises into a :class:`ClaimCodeError`."""
    with restored_state(), sorted_exceptions(where, interrupts_are_users):
        yield


class Tracked(dict):
    """A dict that remembers which keys were read (a check's inputs)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.reads: set = set()

    def __getitem__(self, k):
        self.reads.add(k)
        return dict.__getitem__(self, k)

    def get(self, k, default=None):
        self.reads.add(k)
        return dict.get(self, k, default)

    def _all(self):
        self.reads.update(dict.keys(self))

    def __iter__(self):
        self._all()
        return dict.__iter__(self)

    def items(self):
        self._all()
        return dict.items(self)

    def values(self):
        self._all()
        return dict.values(self)

    def copy(self):
        self._all()
        return dict(self)


def _readonly(v):
    if isinstance(v, np.ndarray):
        view = v.view()
        view.flags.writeable = False
        return view
    if isinstance(v, (list, dict, set)):
        return copy.deepcopy(v)
    return v


def frozen(values: dict) -> dict:
    """A copy claim code may read but whose changes reach nobody else."""
    return {k: _readonly(v) for k, v in values.items()}


def _same(a, b) -> bool:
    if a is b:
        return True
    try:
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return bool(np.array_equal(np.asarray(a), np.asarray(b)))
        if hasattr(a, "detach") or hasattr(b, "detach"):
            return bool(torch.equal(torch.as_tensor(a), torch.as_tensor(b)))
        return bool(a == b)
    except Exception:  # values that cannot be compared count as changed
        return False


def _changed_keys(truth: dict, variant: dict) -> set:
    """Prediction keys whose value a mutant changed (added, removed or different)."""
    return ({k for k in variant if k not in truth or not _same(truth[k], variant[k])}
            | {k for k in truth if k not in variant})


def _nan_keys(values: dict) -> list[str]:
    bad = []
    for k, v in values.items():
        try:
            f = float(v)
        except (TypeError, ValueError, OverflowError):
            continue
        if math.isnan(f):
            bad.append(k)
    return bad


# ---- perturbations of prediction values (the resolution measurement) -------

def value_kind(v) -> str | None:
    """How a prediction value is perturbed: relative (1 ± δ), absolute (±δ for
    zeros), count (±1), flip (booleans); None when it is not numeric."""
    if isinstance(v, (bool, np.bool_)):
        return "flip"
    if isinstance(v, (int, np.integer)):
        return "count"
    try:
        a = v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        try:
            a = np.asarray(float(v))
        except (TypeError, ValueError):
            return None
    if a.dtype == object or a.size == 0 or not np.all(np.isfinite(a.astype(np.float64))):
        return None
    if a.dtype == bool:
        return "flip"
    return "absolute" if not np.any(a) else "relative"


def perturb(v, kind: str, side: str, delta: float):
    s = -1.0 if side == "minus" else 1.0
    if kind == "flip":
        return not bool(v) if np.ndim(v) == 0 else ~np.asarray(v, dtype=bool)
    if kind == "count":
        return type(v)(v + int(s))
    if hasattr(v, "detach"):
        return v * (1 + s * delta) if kind == "relative" else v + s * delta
    a = np.asarray(v, dtype=np.float64) if np.ndim(v) else float(v)
    return a * (1 + s * delta) if kind == "relative" else a + s * delta


def deltas_for(kind: str, resim: bool) -> tuple:
    if kind in ("count", "flip"):
        return (1.0,)
    return RESIM_DELTAS if resim else DELTAS


# ---- one draw ---------------------------------------------------------------

@dataclass
class Draw:
    """What to evaluate: the draw inside the assumptions (``params``, from
    which the prediction is derived) and, for a break, the broken draw the
    simulation sees."""

    params: dict
    source: str = "sweep"
    sim_params: dict | None = None
    deep: bool = True  # also evaluate mutants / perturbations when that needs new simulations

    @property
    def simulated(self) -> dict:
        return self.params if self.sim_params is None else self.sim_params


@dataclass
class Evaluator:
    """Evaluates draws of one claim in its worker."""

    claim: Claim
    ctx: SimContext
    global_seed: int
    interrupts_are_users: bool = False
    _predictions: dict = field(default_factory=dict)

    # -- seeds and claim-code calls --------------------------------------------
    def seed_for(self, params: dict) -> int:
        """A draw's simulation seed depends on the draw alone (not on its batch,
        its source or what ran before)."""
        return derive_seed(self.global_seed, self.claim.id, "simulate", canonical(params))

    def _guard(self, where):
        return guarded(where, self.interrupts_are_users)

    def prediction(self, params: dict) -> dict:
        key = canonical(params)
        if key not in self._predictions:
            try:
                with self._guard("derive"):
                    pred = self.claim.derive(copy.deepcopy(params))
                    if not isinstance(pred, dict):
                        raise TypeError(f"derive returned {type(pred).__name__}, not a dict")
                    pred = dict(pred)
                self._predictions[key] = pred
            except ClaimCodeError as exc:
                self._predictions[key] = exc
        got = self._predictions[key]
        if isinstance(got, ClaimCodeError):
            raise got
        return got

    def simulate(self, draws: list[Draw], predictions: list[dict], batched: bool) -> list[dict | ClaimCodeError]:
        """Observations of the draws (the simulation sees the broken params of a break)."""
        claim = self.claim
        if batched and claim.simulate_batch is not None and len(draws) > 0:
            ctx = self.ctx.with_seeds([self.seed_for(d.simulated) for d in draws])
            params = [copy.deepcopy(d.simulated) for d in draws]
            try:
                with self._guard("simulate_batch"):
                    if claim.batch_uses_prediction:
                        obs = claim.simulate_batch(params, ctx, predictions=[copy.deepcopy(p) for p in predictions])
                    else:
                        obs = claim.simulate_batch(params, ctx)
                    obs = list(obs)
                    if len(obs) != len(draws):
                        raise ValueError(f"simulate_batch returned {len(obs)} observations for {len(draws)} draws")
            except ClaimCodeError as exc:
                return [exc] * len(draws)
            return [self._observation(o) for o in obs]
        out = []
        for d, pred in zip(draws, predictions):
            ctx = self.ctx.with_seed(self.seed_for(d.simulated))
            try:
                with self._guard("simulate"):
                    p = copy.deepcopy(d.simulated)
                    if claim.simulation_uses_prediction:
                        o = claim.simulate(p, ctx, prediction=copy.deepcopy(pred))
                    else:
                        o = claim.simulate(p, ctx)
                out.append(self._observation(o))
            except ClaimCodeError as exc:
                out.append(exc)
        return out

    @staticmethod
    def _observation(o) -> dict | ClaimCodeError:
        if not isinstance(o, dict):
            return ClaimCodeError(ERROR, f"simulate returned {type(o).__name__}, not a dict")
        for v in o.values():  # checks read it many times: nobody may change it in place
            if isinstance(v, np.ndarray):
                v.flags.writeable = False
        return dict(o)

    def check(self, prediction: dict, observation: dict, params: dict, only=None, base=None):
        """(evidence, prediction keys read per check).  With ``only`` (indices of
        checks) and ``base`` (the evidence of the unchanged prediction), only
        those checks are evaluated again; the others keep their evidence."""
        evidence, reads = [], []
        pred, obs, par = frozen(prediction), frozen(observation), copy.deepcopy(params)
        with restored_state():
            for i, chk in enumerate(self.claim.checks):
                if only is not None and i not in only:
                    evidence.append(base[i])
                    reads.append(set())
                    continue
                tp, to = Tracked(pred), Tracked(obs)  # cheap per-check copies of the frozen values
                with sorted_exceptions(f"check {chk.name!r}", self.interrupts_are_users):
                    ev = chk(tp, to, par, self.ctx)
                ev.reads_observation = bool(to.reads)
                evidence.append(ev)
                reads.append(set(tp.reads))
        return evidence, reads

    # -- draws -----------------------------------------------------------------
    def run(self, draws: list[Draw], batched: bool = True, mutants: bool = True,
            resolution: bool = True, plots: bool = True) -> "Batch":
        """Evaluate draws: the truth, then (on claim draws) the mutants and the
        perturbations of every checked prediction value."""
        outcomes = [ExampleOutcome(params=dict(d.params), status=ERROR, source=d.source,
                                   seed=self.seed_for(d.simulated),
                                   sim_params=None if d.sim_params is None else dict(d.sim_params))
                    for d in draws]
        ready: list[int] = []
        for i, (d, o) in enumerate(zip(draws, outcomes)):
            try:
                pred = self.prediction(d.params)
            except ClaimCodeError as exc:
                _settle(o, exc)
                continue
            o.prediction = pred
            bad = _nan_keys(pred)
            if bad:
                o.status, o.reason = INCONCLUSIVE, f"prediction is NaN: {', '.join(bad)}"
                continue
            ready.append(i)
        observations = self.simulate([draws[i] for i in ready], [outcomes[i].prediction for i in ready], batched)
        for i, obs in zip(ready, observations):
            o = outcomes[i]
            if isinstance(obs, ClaimCodeError):
                _settle(o, obs)
                continue
            o.observation = obs
            try:
                o.evidence, reads = self.check(o.prediction, obs, draws[i].simulated)
            except ClaimCodeError as exc:
                _settle(o, exc)
                continue
            o.status, o.reason = outcome_from_evidence(o.evidence)
            o.reads = reads
            o.checked = self._checked_keys(o.prediction, reads, o.evidence)
            if plots:
                o.points = self._plot_points(o)
        claim_draws = [i for i in ready if draws[i].sim_params is None and outcomes[i].status in (PASS, FAIL)]
        res = {}
        if mutants and self.claim.mutants:
            self._mutants([draws[i] for i in claim_draws], [outcomes[i] for i in claim_draws], batched)
        if resolution:
            res = self._resolution([draws[i] for i in claim_draws], [outcomes[i] for i in claim_draws], batched)
        return Batch(outcomes, res)

    def _checked_keys(self, prediction: dict, reads: list[set], evidence: list) -> dict:
        """Prediction values read by checks that also read the simulation, how
        to perturb them and on which sides a perturbation can refute them
        (one-sided bounds: one side).  A value only compared with other
        prediction values is not something the simulation can resolve."""
        out: dict[str, dict] = {}
        for chk, keys, ev in zip(self.claim.checks, reads, evidence):
            if not ev.reads_observation:
                continue
            for k in keys:
                kind = value_kind(prediction.get(k))
                if kind is None:
                    continue
                sides = tuple(chk.bound_sides.get(k, ("minus", "plus")))
                entry = out.setdefault(k, {"kind": kind, "sides": set()})
                entry["sides"].update(sides)
        return {k: {"kind": v["kind"], "sides": sorted(v["sides"])} for k, v in out.items()}

    def _variant(self, draws: list[Draw], outcomes: list[ExampleOutcome], preds: list[dict], batched: bool,
                 changed: list | None = None):
        """Evaluate changed predictions: on the cached observations (re-checking
        only the checks that read a changed value; the others keep the truth's
        evidence), or simulated again when the simulation reads the prediction.
        Yields (outcome index, status, refuted through the observation, reason, evidence)."""
        if self._resim:
            idx = [i for i, d in enumerate(draws) if d.deep]
            observations = self.simulate([draws[i] for i in idx], [preds[i] for i in idx], batched)
        else:
            idx = list(range(len(draws)))
            observations = [outcomes[i].observation for i in idx]
        for i, obs in zip(idx, observations):
            if isinstance(obs, ClaimCodeError):
                yield i, (INCONCLUSIVE if obs.kind == INCONCLUSIVE else ERROR), False, obs.message, []
                continue
            only = None
            if not self._resim and changed is not None and outcomes[i].reads:
                only = {c for c, r in enumerate(outcomes[i].reads) if r & changed[i]}
            try:
                evidence, _ = self.check(preds[i], obs, draws[i].simulated, only=only, base=outcomes[i].evidence)
            except ClaimCodeError as exc:
                yield i, exc.kind, False, exc.message, []
                continue
            status, reason = outcome_from_evidence(evidence)
            through_obs = any(e.passed is False and e.reads_observation for e in evidence)
            yield i, status, through_obs, reason, evidence

    def _mutants(self, draws, outcomes, batched):
        for m in self.claim.mutants:
            preds, keep, changed = [], [], []
            for i, o in enumerate(outcomes):
                try:
                    with self._guard(f"mutant {m.name!r}"):
                        p = m.derive(copy.deepcopy(o.params), copy.deepcopy(o.prediction))
                        if not isinstance(p, dict):
                            raise TypeError(f"mutant returned {type(p).__name__}, not a dict")
                    preds.append(dict(p))
                    keep.append(i)
                    changed.append(_changed_keys(o.prediction, p))
                except ClaimCodeError as exc:
                    o.mutants[m.name] = {"status": exc.kind, "reason": exc.message}
            sub_d, sub_o = [draws[i] for i in keep], [outcomes[i] for i in keep]
            for j, status, through_obs, reason, evidence in self._variant(sub_d, sub_o, preds, batched, changed):
                if status == FAIL and not through_obs:
                    status = "prediction-only"  # a check that never looked at the simulation
                entry = {"status": status, "reason": reason}
                if status == FAIL:
                    entry["checks"] = [_row(e) for e in evidence if e.passed is False]
                sub_o[j].mutants[m.name] = entry

    @property
    def _resim(self) -> bool:
        return self.claim.simulation_uses_prediction or self.claim.batch_uses_prediction

    def _refutes(self, draws, outcomes, key, kind, side, delta, batched) -> tuple[bool, bool]:
        """(refuted by some draw, tested on some draw) for one perturbation.
        With cached observations the draws are tried one at a time and the
        first refutation ends the search; otherwise they are re-simulated together."""
        sel = [i for i, o in enumerate(outcomes) if key in (o.checked or {})]
        if not sel:
            return False, False

        def perturbed(i):
            p = dict(outcomes[i].prediction)
            p[key] = perturb(outcomes[i].prediction[key], kind, side, delta)
            return p
        groups = [sel] if self._resim else [[i] for i in sel]
        tested = False
        for group in groups:
            preds = [perturbed(i) for i in group]
            sub_d, sub_o = [draws[i] for i in group], [outcomes[i] for i in group]
            for _, status, through_obs, _, _ in self._variant(sub_d, sub_o, preds, batched, [{key}] * len(group)):
                tested = True
                if status == FAIL and through_obs:
                    return True, True
        return False, tested

    def _resolution(self, draws, outcomes, batched) -> dict:
        """For each checked value and side, the deltas refuted on these draws,
        coarse to fine, stopping at the first delta no draw refutes; a delta is
        refuted when a check that reads the observation fails."""
        result: dict[str, dict] = {}
        keys: dict[str, dict] = {}
        for o in outcomes:
            for k, info in (o.checked or {}).items():
                keys.setdefault(k, info)
        for k, info in keys.items():
            for side in ("minus", "plus"):
                refuted: set = set()
                tested: set = set()
                for delta in deltas_for(info["kind"], self._resim):
                    if info["kind"] == "flip" and side == "plus":
                        break  # a flip has one side
                    hit, tried = self._refutes(draws, outcomes, k, info["kind"], side, delta, batched)
                    if tried:
                        tested.add(delta)
                    if not hit:
                        break
                    refuted.add(delta)
                entry = result.setdefault(k, {"kind": info["kind"], "sides": list(info["sides"])})
                entry[side] = {"refuted": sorted(refuted, reverse=True), "tested": sorted(tested, reverse=True)}
        return result

    def _plot_points(self, o: ExampleOutcome) -> dict:
        """Scalar values of the per-draw plots (``over="examples"``)."""
        pts = {}
        for pi, plot in enumerate(self.claim.plots):
            if plot.over != "examples":
                continue
            for si, s in enumerate(plot.series):
                try:
                    with self._guard("plot"):
                        x = _resolve(s.x, o)
                        y = _resolve(s.y, o)
                    pts[f"{pi}.{si}"] = [_scalar(x), _scalar(y)]
                except ClaimCodeError:
                    continue
        return pts


def _resolve(ref: Any, o: ExampleOutcome):
    if ref is None:
        return None
    if callable(ref):
        return ref(frozen(o.prediction), frozen(o.observation), copy.deepcopy(o.params))
    where, key = ref.split(".", 1)
    return {"prediction": o.prediction, "observation": o.observation, "params": o.params}[where][key]


def _scalar(v):
    if v is None:
        return None
    try:
        a = np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return float(a) if a.size == 1 else None


def _settle(o: ExampleOutcome, exc: ClaimCodeError) -> None:
    o.status = INCONCLUSIVE if exc.kind == INCONCLUSIVE else ERROR
    o.reason, o.traceback = exc.message, exc.trace


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def reason_category(o: ExampleOutcome) -> str:
    """What made a draw undecidable, without its numbers (to count draws per reason)."""
    if o.reason.startswith("prediction is NaN"):
        return o.reason
    undecided = [e for e in o.evidence if e.passed is None]
    if undecided:
        e = undecided[0]
        return f"{e.detail or 'undecidable'} ({e.name})"
    return _NUMBER.sub("#", o.reason.splitlines()[0] if o.reason else "inconclusive")[:160]


def _row(e) -> dict:
    return {"name": e.name, "passed": e.passed, "margin": e.margin, "theory": e.theory, "observed": e.observed,
            "tolerance": e.tolerance, "detail": e.detail, "used": e.used, "reads_observation": e.reads_observation}


def compact(o: ExampleOutcome) -> dict:
    """The plain-data form of an outcome that travels back from a worker."""
    return to_jsonable({
        "params": o.params, "sim_params": o.sim_params, "source": o.source, "seed": o.seed,
        "status": o.status, "reason": o.reason[:600], "traceback": o.traceback[-3000:] if o.traceback else "",
        "category": reason_category(o) if o.status == INCONCLUSIVE else "",
        "used": o.worst_used, "worst_margin": o.worst_margin,
        "checks": [_row(e) for e in o.evidence],
        "mutants": o.mutants, "checked": o.checked or {}, "points": o.points,
    })


@dataclass
class Batch:
    """The outcomes of a list of draws, and what their perturbed predictions refuted."""

    outcomes: list
    resolution: dict

    def compact(self) -> dict:
        return {"draws": [compact(o) for o in self.outcomes], "resolution": to_jsonable(self.resolution)}


__all__ = ["Evaluator", "Draw", "Batch", "ClaimCodeError", "guarded", "describe_exception", "compact",
           "reason_category", "DELTAS", "RESIM_DELTAS", "value_kind", "perturb", "frozen", "Tracked"]
