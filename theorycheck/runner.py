"""The table of contents of one claim's run.

In the claim's worker process (``run_claim``):

  1. sweep     space-filling draws (Sobol), in fixed chunks, batched      phases/sweep.py
  2. search    the corners, then hypothesis draws steered to the worst    phases/search.py
               margin (after the replay of stored failures, in ``fuzz``)
  3. regimes   targeted draws for regimes short of their quota            phases/regimes.py
  4. shrink    the first failure, to a minimal counterexample             phases/shrink.py
  5. breaks    broken draws against the theorem's own prediction         phases/breaks.py
  6. showcase  the draw the report draws, evaluated once more in full

Every claim draw is evaluated for the truth, the mutants and the
perturbations of its checked prediction values at once (evaluate.py).

In the parent process (``assemble``), from that plain data alone — so claim
code, which only ever runs in the worker, cannot reach the verdict: mutant
and break verdicts (phases/mutants.py, phases/breaks.py), the measured
resolution (phases/resolution.py), regime coverage, the verdict
(verdict.py) and the claim's record (record.py).
"""
from __future__ import annotations

import os
import time
import warnings
from collections import Counter
from dataclasses import dataclass, replace

import torch

from . import record as rec
from .claim import Claim
from .evaluate import Draw, Evaluator
from .phases import breaks as breaks_phase
from .phases import mutants as mutants_phase
from .phases import regimes as regimes_phase
from .phases import resolution as resolution_phase
from .phases import search as search_phase
from .phases import shrink as shrink_phase
from .phases import sweep
from .profiles import Profile, get_profile, planned_sweep
from .sim.context import SimContext, derive_seed
from .verdict import ERROR, FAIL, INCONCLUSIVE, PASS, decide

FUZZ_SEARCH_FACTOR = 4  # fuzz searches harder than run


@dataclass(frozen=True)
class RunOptions:
    profile: str = "quick"
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float64"
    replay: bool = False            # fuzz: replay stored failures first, search harder
    search: int | None = None       # override the profile's number of hypothesis draws
    sweep: int | None = None        # override the profile's number of sweep draws
    budget_s: float | None = None   # override the profile's soft budget per claim
    timeout_s: float | None = None  # override the hard timeout per claim (default: budget × 3 + 60 s)
    jobs: int = 1
    failures_path: str | None = ".theorycheck/failures.json"  # stored counterexamples (None: --no-db)

    def profile_obj(self) -> Profile:
        p = get_profile(self.profile)
        if self.search is not None:
            p = replace(p, search=self.search)
        if self.sweep is not None:
            p = replace(p, sweep=self.sweep)
        if self.budget_s is not None:
            p = replace(p, budget_s=self.budget_s)
        if self.replay:
            p = replace(p, search=p.search * FUZZ_SEARCH_FACTOR)
        return p

    @property
    def hard_timeout_s(self) -> float:
        return self.timeout_s if self.timeout_s is not None else self.profile_obj().hard_timeout_s


def context_of(options: RunOptions, claim: Claim | None = None) -> SimContext:
    """The simulation context of a run (a draw's own seed is set per draw);
    ``draws`` is the number of claim draws the run plans (sweep, search and
    corners, regime quotas), the count Bonferroni levels divide by."""
    profile = options.profile_obj()
    planned = planned_sweep(profile, claim.draws if claim else None) + profile.search + 2
    planned += profile.regime_quota * len(claim.regimes) if claim else 0
    return SimContext(device=options.device, dtype=getattr(torch, options.dtype), seed=options.seed,
                      budget_s=profile.budget_s, size=profile.size, draws=planned)


def _first_failure(draws: list[dict]) -> dict | None:
    return next((d for d in draws if d["status"] == FAIL), None)


def run_claim(claim: Claim, options: RunOptions, say=None, chunk_runner=None, replay_params=(),
              interrupts_are_users: bool = False) -> dict:
    """Everything the worker learns about one claim, as plain data.  Warnings
    the claim's code raises (overflow in a diverging run, a solver's accuracy
    note) are counted into the record (the 10 most frequent) instead of
    flooding the terminal."""
    counts: Counter = Counter()

    def count(message, category, filename, lineno, file=None, line=None):
        try:
            filename = os.path.relpath(filename)
        except ValueError:
            pass
        counts[f"{filename}:{lineno}: {category.__name__}: {message}"] += 1

    with warnings.catch_warnings():
        warnings.simplefilter("always")  # every occurrence is counted, none is printed
        warnings.showwarning = count
        data = _run_claim(claim, options, say, chunk_runner, replay_params, interrupts_are_users)
    data["warnings"] = [{"warning": text, "count": n} for text, n in counts.most_common(10)]
    return data


def _run_claim(claim: Claim, options: RunOptions, say, chunk_runner, replay_params,
               interrupts_are_users: bool) -> dict:
    say = say or (lambda text: None)
    profile = options.profile_obj()
    started = time.monotonic()
    deadline = started + profile.budget_s
    ev = Evaluator(claim, context_of(options, claim), options.seed, interrupts_are_users)
    runner = chunk_runner or sweep.local_runner(ev, deadline)
    batched = claim.simulate_batch is not None
    resim = claim.simulation_uses_prediction or claim.batch_uses_prediction
    draws: list[dict] = []
    parts: list[dict] = []

    def single(params, source, batch_path=False, full=True) -> dict:
        b = ev.run([Draw(params, source, deep=not resim)], batched=batch_path and batched,
                   mutants=full, resolution=full)
        out = b.compact()
        return out

    # 0. stored failures first (fuzz)
    for p in replay_params:
        if claim.assumptions.satisfied(p) and set(claim.assumptions.names) <= set(p):
            out = single(p, "replay", batch_path=True)
            draws += out["draws"]
            parts.append(out["resolution"])

    # 1. the sweep
    plan = sweep.plan(claim, profile, options.seed)
    say(f"sweep of {len(plan.draws)} draws")
    got, got_parts, spent = sweep.evaluate(plan.chunks(), runner, batched, say)
    draws += got
    parts += got_parts

    # 2. the search
    unsatisfiable = False
    if _first_failure(draws) is None and not any(d["status"] == ERROR for d in draws):
        say(f"search ({profile.search} hypothesis draws)")
        found = search_phase.search(lambda p: single(p, "search"), claim.assumptions, examples=profile.search,
                                    seed=derive_seed(options.seed, claim.id, "search") % 2**32,
                                    deadline=deadline)
        draws += found.draws
        parts += found.parts
        spent = spent or found.budget_spent
        unsatisfiable = found.unsatisfiable

    # 3. regimes short of their quota get targeted draws
    if claim.regimes:
        counts = regimes_phase.coverage(claim.regimes, draws)
        extra = regimes_phase.targeted(claim, plan, profile.regime_quota, counts)
        if extra:
            say(f"{len(extra)} draws targeted at regimes")
            chunks = [extra[i:i + profile.chunk] for i in range(0, len(extra), profile.chunk)]
            got, got_parts, late = sweep.evaluate(chunks, runner, batched, say, label="regimes")
            draws += got
            parts += got_parts
            spent = spent or late

    # 4. a minimal counterexample
    failure = _first_failure(draws)
    counterexample = None
    if failure is not None:
        say("shrinking the counterexample")
        path = failure["source"] in ("sweep", "replay") or failure["source"].startswith("regime")

        def evaluate_one(p):
            out = single(p, "shrink", batch_path=path, full=False)["draws"][0]
            draws.append(out)
            return out

        counterexample = shrink_phase.shrink(claim.assumptions, failure, evaluate_one,
                                             max_evals=profile.shrink_evals, deadline=deadline + profile.budget_s)
        counterexample = {**counterexample, "found_by": failure["source"]}

    # 5. breaks: the theorem's prediction against the broken simulation
    broken = []
    for brk in claim.breaks:
        say(f"break {brk.name}")
        found = breaks_phase.run(ev, brk, plan.draws, profile.break_draws, batched, deadline + profile.budget_s)
        broken.append({"name": brk.name, "description": brk.description, "expect": list(brk.expect),
                       "found": found})

    # 6. the showcase draw, in full, for the report
    show = _showcase(ev, claim, draws, counterexample, batched)
    return {"meta": rec.meta_of(claim), "draws": draws, "resolution_parts": parts, "breaks": broken,
            "counterexample": counterexample, "showcase": show,
            "flags": {"budget_spent": spent, "unsatisfiable": unsatisfiable, "planned": len(plan.draws),
                      "resim": resim, "batched": batched},
            "duration_s": round(time.monotonic() - started, 3)}


def _showcase(ev: Evaluator, claim: Claim, draws: list[dict], counterexample: dict | None, batched: bool) -> dict:
    """The counterexample, else the passing draw with the tightest agreement."""
    pick = counterexample
    if pick is None:
        passing = [d for d in draws if d["status"] == PASS]
        pick = max(passing, key=lambda d: d["used"] if d["used"] is not None else -1.0) if passing else None
    if pick is None:
        pick = next((d for d in draws if d["status"] in (FAIL, INCONCLUSIVE)), None)
    if pick is None:
        return {"prediction": None, "plots": [rec.plot_record(p, None) for p in claim.plots if p.over == "example"]}
    source = pick["source"]
    path = batched and (source in ("sweep", "replay") or source.startswith("regime"))
    outcome = ev.run([Draw(pick["params"], "showcase", deep=False)], batched=path, mutants=False,
                     resolution=False, plots=False).outcomes[0]
    return {"prediction": rec.prediction_record(outcome), "params": pick["params"],
            "plots": [rec.plot_record(p, outcome) for p in claim.plots if p.over == "example"]}


# ---- the parent's side: verdict and record from the worker's plain data ---------------------

def assemble(data: dict, options: RunOptions) -> dict:
    """The claim's record in the results file."""
    meta, draws, flags = data["meta"], data["draws"], data["flags"]
    # the evidence: draws of the sweep, the search, the regimes and replays (shrinking only re-tests a failure)
    counts = Counter(d["status"] for d in draws if d["source"] != "shrink")
    by_source: dict[str, Counter] = {}
    for d in draws:
        src = d["source"].split(":")[0]
        by_source.setdefault(src, Counter())[d["status"]] += 1
    reasons = Counter(d["category"] or d["reason"] for d in draws
                      if d["status"] == INCONCLUSIVE and d["source"] != "shrink")
    errors = [d for d in draws if d["status"] == ERROR]

    mutants = [mutants_phase.verdict(m["name"], m["description"], draws) for m in meta["mutants"]]
    breaks = [breaks_phase.verdict(_BreakSpec(b), b["found"]) for b in data["breaks"]]
    promise = _promise_of(meta["resolution_declared"])
    resolution = resolution_phase.measure(data["resolution_parts"], promise)
    coverage = regimes_phase.coverage({k: v for k, v in meta["regimes"].items()}, draws)
    quota = options.profile_obj().regime_quota
    for c in coverage.values():
        c["quota"] = quota
        c["covered"] = c["decided"] >= quota
    planned = flags["planned"]
    sweep_done = sum(by_source.get("sweep", Counter()).values())

    verdict, reason = decide(
        passed=counts[PASS], failed=counts[FAIL], inconclusive=counts[INCONCLUSIVE], errors=counts[ERROR],
        error_reason=errors[0]["reason"] if errors else "", reasons=reasons,
        unsatisfiable=flags["unsatisfiable"], budget_spent=flags["budget_spent"] and sweep_done < planned,
        planned=planned, swept=sweep_done, inconclusive_fraction=meta["inconclusive_fraction"],
        uncovered=[n for n, c in coverage.items() if not c["covered"]],
        mutants={m["name"]: (m["verdict"], m["reason"]) for m in mutants},
        breaks={b["name"]: (b["verdict"], b["reason"]) for b in breaks},
        resolution_misses=resolution_phase.weak_keys(resolution),
        counterexample=data["counterexample"])
    return rec.claim_record(meta, data, verdict=verdict, reason=reason, counts=counts, by_source=by_source,
                            reasons=reasons, mutants=mutants, breaks=breaks, resolution=resolution,
                            coverage=coverage, planned=planned, options=options)


class _BreakSpec:
    def __init__(self, b: dict):
        self.name, self.description, self.expect = b["name"], b["description"], tuple(b["expect"])


def _promise_of(declared):
    from .claim import DEFAULT_RESOLUTION

    def promise(key):
        r = DEFAULT_RESOLUTION if declared is None else declared
        if isinstance(r, dict):
            return r.get(key, r.get("*", DEFAULT_RESOLUTION))
        return float(r)
    return promise
