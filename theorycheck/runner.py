"""Run claims: the claim itself (fuzzed, shrunk), its mutants and its breaks,
then the verdict and the claim's record.  Executors: in-process (default) or
one spawned process per claim (``jobs > 1``: isolation and hard timeouts)."""
from __future__ import annotations

import multiprocessing as mp
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from . import record as rec
from .claim import Claim
from .discovery import load_claim
from .evaluate import Evaluator
from .profiles import Profile, get_profile
from .search import SearchResult, search
from .sim.context import SimContext, derive_seed
from .verdict import (BREAK_DETECTED, BREAK_UNDETECTED, ERROR, FAIL, INCONCLUSIVE, MUTANT_REFUTED,
                      MUTANT_SURVIVED, PASS, decide)

Progress = Callable[[str, str], None]  # (claim id, what is running now)


@dataclass(frozen=True)
class RunOptions:
    profile: str = "quick"
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float64"
    database_dir: str | None = ".theorycheck/hypothesis"
    replay: bool = False          # replay the example database first (fuzz mode)
    examples: int | None = None   # override the profile's example count
    jobs: int = 1

    def profile_obj(self) -> Profile:
        p = get_profile(self.profile)
        if self.examples:
            p = replace(p, examples=self.examples, mutant_examples=self.examples,
                        break_examples=max(2, self.examples // 2))
        return p


def _side_verdict(res: SearchResult, found: str, missed: str, min_examples: int) -> str:
    """Verdict of a mutant (refuted / survived) or a break (detected / undetected)."""
    if res.failure is not None:
        return found
    if res.errors:
        return ERROR
    decided = res.count(PASS)
    return missed if decided >= min_examples else INCONCLUSIVE


def _search_for(evaluator: Evaluator, options: RunOptions, role: str, strategy, n: int,
                deadline: float, shrink: bool, first_failure: bool, evaluate,
                draws_of: str | None = None) -> SearchResult:
    """``draws_of`` names the role whose draws to repeat (mutants repeat the
    claim's draws, so their observations come from the cache)."""
    return search(evaluate, strategy, max_examples=n,
                  seed=derive_seed(options.seed, evaluator.claim.id, draws_of or role) % (2**32),
                  key=f"{evaluator.claim.id}:{role}", deadline=deadline, shrink=shrink,
                  database_dir=options.database_dir, replay=options.replay,
                  stop_at_first_failure=first_failure)


def run_claim(claim: Claim, options: RunOptions, progress: Progress | None = None) -> dict:
    """Everything about one claim, as its results record."""
    profile = options.profile_obj()
    say = progress or (lambda cid, what: None)
    started = time.monotonic()
    deadline = started + profile.budget_s
    ctx = SimContext(device=options.device, dtype=getattr(torch, options.dtype), seed=options.seed,
                     budget_s=profile.budget_s, size=profile.size)
    ev = Evaluator(claim, ctx, options.seed)
    space = claim.assumptions

    # 1. the claim: batched sweep (when the claim has one), then hypothesis
    outcomes = []
    sweep_failure = None
    if claim.simulate_batch is not None and profile.sweep:
        say(claim.id, f"batched sweep of {profile.sweep} draws")
        batch = ev.evaluate_batch(space.sample(profile.sweep, derive_seed(options.seed, claim.id, "sweep") % 2**32))
        outcomes += batch
        sweep_failure = next((o for o in batch if o.status == FAIL), None)
    say(claim.id, f"fuzzing {profile.examples} draws")
    main = _search_for(ev, options, "claim", space.strategy(), profile.examples, deadline,
                       shrink=True, first_failure=False, evaluate=lambda p: ev.evaluate(p))
    outcomes += main.outcomes
    failure = main.failure or sweep_failure

    # 2. mutants: same draws (same seed), wrong predictions; stop at the first refutation
    mutants = []
    for m in claim.mutants:
        say(claim.id, f"mutant {m.name}")
        res = _search_for(ev, options, f"mutant:{m.name}", space.strategy(), profile.mutant_examples,
                          deadline, shrink=False, first_failure=True, draws_of="claim",
                          evaluate=lambda p, m=m: ev.evaluate(p, role=f"mutant:{m.name}", mutate=m.derive))
        v = _side_verdict(res, MUTANT_REFUTED, MUTANT_SURVIVED, 1)
        mutants.append({"name": m.name, "description": m.description, "verdict": v,
                        "examples": len(res.outcomes), "example": rec.example_record(res.failure or _last(res)),
                        "reason": _reason(res)})

    # 3. breaks: draws moved outside the assumptions, the theorem's prediction kept
    breaks = []
    for b in claim.breaks:
        say(claim.id, f"break {b.name}")
        strategy = space.strategy().map(b.apply).filter(lambda p: p is not None)
        res = _search_for(ev, options, f"break:{b.name}", strategy, profile.break_examples,
                          deadline, shrink=profile.shrink_breaks, first_failure=not profile.shrink_breaks,
                          evaluate=lambda p, b=b: ev.evaluate(p, role=f"break:{b.name}"))
        v = _side_verdict(res, BREAK_DETECTED, BREAK_UNDETECTED, 1)
        breaks.append({"name": b.name, "description": b.description, "verdict": v,
                       "examples": len(res.outcomes), "example": rec.example_record(res.failure or _last(res)),
                       "reason": _reason(res)})

    verdict, reason = decide(
        passed=sum(o.status == PASS for o in outcomes), failed=int(failure is not None),
        inconclusive=sum(o.status == INCONCLUSIVE for o in outcomes),
        errors=sum(o.status == ERROR for o in outcomes), unsatisfiable=main.unsatisfiable,
        budget_spent=main.budget_spent, min_examples=min(profile.min_examples, profile.examples),
        inconclusive_fraction=claim.inconclusive_fraction,
        mutants={m["name"]: m["verdict"] for m in mutants})
    errors = [o for o in outcomes if o.status == ERROR]
    if verdict == ERROR and errors:
        reason += ":\n" + errors[0].reason
    show = rec.showcase(outcomes, failure)
    return {
        "id": claim.id, "family": claim.family, "title": claim.title, "statement": claim.statement,
        "math": rec.math_of(claim), "source": claim.source.as_dict(), "notion": claim.notion,
        "notes": claim.notes, "module": claim.module_path, "assumptions": space.describe(),
        "verdict": verdict, "reason": reason,
        "examples": len(outcomes), "inconclusive_examples": sum(o.status == INCONCLUSIVE for o in outcomes),
        "budget_spent": main.budget_spent,
        "counterexample": rec.counterexample_record(failure),
        "checks": rec.check_summaries(claim, outcomes),
        "mutants": mutants, "breaks": breaks,
        "prediction": rec.prediction_record(show),
        "plots": [rec.plot_record(p, show, outcomes) for p in claim.plots],
        "draws": rec.draws_record(outcomes),
        "duration_s": round(time.monotonic() - started, 3),
    }


def _last(res: SearchResult):
    return res.outcomes[-1] if res.outcomes else None


def _reason(res: SearchResult) -> str:
    if res.failure is not None:
        return res.failure.reason
    if res.errors:
        return res.errors[0].reason
    bad = [o.reason for o in res.outcomes if o.status == INCONCLUSIVE]
    return f"{res.count(PASS)} passed, {len(bad)} inconclusive" + (f" ({bad[0]})" if bad else "")


def error_record(claim_id: str, title: str, module: str, message: str, duration: float = 0.0) -> dict:
    """The record of a claim whose run could not finish (crash, hard timeout)."""
    return {"id": claim_id, "family": claim_id.split(".")[0], "title": title, "statement": "",
            "math": None, "source": {}, "notion": "", "notes": "", "module": module,
            "assumptions": {}, "verdict": ERROR, "reason": message, "examples": 0,
            "inconclusive_examples": 0, "budget_spent": False, "counterexample": None, "checks": [],
            "mutants": [], "breaks": [], "prediction": None, "plots": [], "draws": [],
            "duration_s": round(duration, 3)}


def safe_run_claim(claim: Claim, options: RunOptions, progress: Progress | None = None) -> dict:
    """run_claim, but a bug anywhere becomes this claim's error and the run goes on."""
    started = time.monotonic()
    try:
        return run_claim(claim, options, progress)
    except Exception:
        return error_record(claim.id, claim.title, claim.module_path, traceback.format_exc(limit=6),
                            time.monotonic() - started)


# ---- executors ----------------------------------------------------------------

def _child(path: str, options: RunOptions, conn) -> None:
    torch.set_num_threads(1)
    try:
        claim = load_claim(path)
        conn.send(safe_run_claim(claim, options))
    except Exception:
        conn.send(error_record(Path(path).stem, Path(path).stem, path, traceback.format_exc(limit=6)))
    finally:
        conn.close()


def run_claims(claims: list[Claim], options: RunOptions, on_start: Progress | None = None,
               on_done: Callable[[dict], None] | None = None) -> list[dict]:
    """Run claims in order (``jobs == 1``) or in parallel worker processes, each
    with a hard timeout of 3× the profile budget + 60 s."""
    records: list[dict] = []
    done = on_done or (lambda r: None)
    if options.jobs <= 1:
        for c in claims:
            r = safe_run_claim(c, options, on_start)
            records.append(r)
            done(r)
        return records
    ctx = mp.get_context("spawn")
    hard = options.profile_obj().budget_s * 3 + 60
    pending = list(claims)
    running: dict = {}
    while pending or running:
        while pending and len(running) < options.jobs:
            c = pending.pop(0)
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(c.module_path, options, child), daemon=True)
            proc.start()
            child.close()
            running[c.id] = (c, proc, parent, time.monotonic())
            if on_start:
                on_start(c.id, "running in a worker process")
        time.sleep(0.05)
        for cid, (c, proc, conn, t0) in list(running.items()):
            r = None
            if conn.poll():
                try:
                    r = conn.recv()
                except EOFError:
                    r = error_record(c.id, c.title, c.module_path, "worker process died", time.monotonic() - t0)
            elif not proc.is_alive():
                r = error_record(c.id, c.title, c.module_path,
                                 f"worker process died (exit code {proc.exitcode})", time.monotonic() - t0)
            elif time.monotonic() - t0 > hard:
                proc.kill()
                r = error_record(c.id, c.title, c.module_path, f"hard timeout after {hard:.0f} s",
                                 time.monotonic() - t0)
                r["verdict"] = INCONCLUSIVE
            if r is not None:
                proc.join(timeout=5)
                del running[cid]
                records.append(r)
                done(r)
    order = {c.id: i for i, c in enumerate(claims)}
    return sorted(records, key=lambda r: order.get(r["id"], 1 << 30))
