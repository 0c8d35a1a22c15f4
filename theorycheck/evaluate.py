"""One example: derive, simulate, check -> ExampleOutcome.

Exceptions are sorted here: :class:`Inconclusive` from claim code (solver not
optimal, no convergence) makes the example inconclusive; any other exception
is an *error* of the claim code, with its traceback kept.  A prediction with a
NaN is inconclusive before any simulation runs.
"""
from __future__ import annotations

import math
import traceback
from typing import Callable

from .claim import Claim
from .sim.context import SimContext, derive_seed
from .space import canonical
from .verdict import ERROR, INCONCLUSIVE, ExampleOutcome, Inconclusive, outcome_from_evidence


def _short_traceback(exc: BaseException) -> str:
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return "".join(tb[-3:]).strip()


def _settle(outcome: ExampleOutcome, exc: Exception) -> None:
    """Claim code stopped an example: Inconclusive means the numerics could
    not decide; any other exception is an error of the claim code."""
    if isinstance(exc, Inconclusive):
        outcome.status, outcome.reason = INCONCLUSIVE, str(exc) or "inconclusive"
    else:
        outcome.status, outcome.reason = ERROR, _short_traceback(exc)


def _nan_in(values: dict) -> list[str]:
    bad = []
    for k, v in values.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isnan(f):
            bad.append(k)
    return bad


class Evaluator:
    """Evaluates examples of one claim, caching what does not change between
    the claim, its mutants and its breaks: the true prediction per draw, and
    the observation per draw when the simulation does not read the prediction."""

    def __init__(self, claim: Claim, ctx: SimContext, global_seed: int):
        self.claim, self.ctx, self.global_seed = claim, ctx, global_seed
        self._predictions: dict[str, dict] = {}
        self._observations: dict[str, dict] = {}

    def seed_for(self, role: str, params: dict) -> int:
        return derive_seed(self.global_seed, self.claim.id, role, canonical(params))

    def prediction(self, params: dict) -> dict:
        key = canonical(params)
        if key not in self._predictions:
            self._predictions[key] = dict(self.claim.derive(dict(params)))
        return self._predictions[key]

    def _observe(self, params: dict, role: str, prediction: dict) -> dict:
        # The observation depends only on the draw (and the prediction when the
        # simulation probes where the theory points): breaks change the draw.
        uses_pred = self.claim.simulation_uses_prediction
        key = canonical(params) + (role if uses_pred else "")
        if key in self._observations:
            return self._observations[key]
        ctx = self.ctx.with_seed(self.seed_for("simulate", params))
        if uses_pred:
            obs = self.claim.simulate(dict(params), ctx, prediction=prediction)
        else:
            obs = self.claim.simulate(dict(params), ctx)
        obs = dict(obs)
        self._observations[key] = obs
        return obs

    def evaluate(self, params: dict, role: str = "claim",
                 mutate: Callable[[dict, dict], dict] | None = None) -> ExampleOutcome:
        seed = self.seed_for("simulate", params)
        out = ExampleOutcome(params=dict(params), status=ERROR, seed=seed)
        if not self._predict(out, mutate):
            return out
        try:
            out.observation = self._observe(params, role, out.prediction)
            out.evidence = [check(out.prediction, out.observation, params, self.ctx) for check in self.claim.checks]
        except Exception as exc:
            _settle(out, exc)
            return out
        out.status, out.reason = outcome_from_evidence(out.evidence)
        return out

    def _predict(self, out: ExampleOutcome, mutate=None) -> bool:
        """Derive (and mutate) the prediction into ``out``; False when that
        already settles the example (claim code raised, or a NaN predicted)."""
        try:
            pred = self.prediction(out.params)
            if mutate is not None:
                pred = dict(mutate(dict(out.params), dict(pred)))
        except Exception as exc:
            _settle(out, exc)
            return False
        out.prediction = pred
        bad = _nan_in(pred)
        if bad:
            out.status, out.reason = INCONCLUSIVE, f"prediction is NaN: {', '.join(bad)}"
            return False
        return True

    def evaluate_batch(self, params_list: list[dict]) -> list[ExampleOutcome]:
        """A batched sweep through ``claim.simulate_batch`` (one tensor program
        for many draws); the per-draw checks are the same as for one draw.
        Draws whose derivation is undecidable or raises are settled alone and
        left out of the batch."""
        ctx = self.ctx.with_seed(derive_seed(self.global_seed, self.claim.id, "sweep"))
        outcomes = [ExampleOutcome(dict(p), ERROR) for p in params_list]
        ready = [o for o in outcomes if self._predict(o)]
        if not ready:
            return outcomes
        try:
            observations = self.claim.simulate_batch([dict(o.params) for o in ready], ctx)
        except Exception as exc:
            for o in ready:
                _settle(o, exc)
            return outcomes
        for o, obs in zip(ready, observations):
            o.observation = dict(obs)
            try:
                o.evidence = [check(o.prediction, o.observation, o.params, ctx) for check in self.claim.checks]
                o.status, o.reason = outcome_from_evidence(o.evidence)
            except Exception as exc:
                _settle(o, exc)
        return outcomes
