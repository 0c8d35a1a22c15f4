"""Reproduce one draw: ``theorycheck repro CLAIM_ID [PATHS] --params '{...}'``.

Every counterexample, mutant example and break example in a results file
carries the command (:func:`command`) that re-runs exactly that draw: the same
parameters, the same run options (global seed, profile, device, dtype) — so
the same simulation seed, derived from (seed, claim id, parameters) — and the
same path through the claim (``simulate_batch`` for a draw that came from the
sweep, the regimes or a replay of a claim with a batched simulation,
``simulate`` otherwise).  The draw runs in an isolated worker process, like
every claim run; the parent prints both sides of every check.

Exit status: 0 when every check passes, 1 when a check still fails (or the
draw is undecidable, or claim code raised), 2 for bad arguments: an unknown
claim, mutant or break, or parameters outside the assumptions (the message
names the parameter).
"""
from __future__ import annotations

import copy
import json
import math
import os
import shlex
import time
from pathlib import Path

DEFAULTS = {"seed": 0, "profile": "quick", "device": "cpu", "dtype": "float64"}
BATCHED_SOURCES = ("sweep", "replay", "regime")


def batched_source(source: str | None) -> bool:
    """Whether a draw from ``source`` ran through ``simulate_batch`` (for a claim that has one)."""
    return str(source or "").split(":")[0] in BATCHED_SOURCES


def command(claim_id: str, params: dict, *, module: str = "", seed: int = 0, profile: str = "quick",
            device: str = "cpu", dtype: str = "float64", batched: bool = False, mutant: str | None = None,
            brk: str | None = None) -> str:
    """The shell command that re-runs one draw (options at their default are left out)."""
    parts = ["theorycheck", "repro", claim_id]
    if module:
        parts.append(module)
    parts += ["--params", json.dumps(params, ensure_ascii=False, allow_nan=False, default=str)]
    for flag, value in (("--seed", seed), ("--profile", profile), ("--device", device), ("--dtype", dtype)):
        if value is not None and value != DEFAULTS[flag[2:]]:
            parts += [flag, str(value)]
    if batched:
        parts.append("--batched")
    if mutant is not None:
        parts += ["--mutant", mutant]
    if brk is not None:
        parts += ["--break", brk]
    return " ".join(shlex.quote(p) for p in parts)


def options_of(options) -> dict:
    """The run options a repro command repeats, from a ``RunOptions`` (or None)."""
    if options is None:
        return {}
    return {"seed": options.seed, "profile": options.profile, "device": options.device, "dtype": options.dtype}


# ---- the parameters of a draw ---------------------------------------------------------

class BadArguments(ValueError):
    """Exit status 2: the message names what is wrong."""


def _option_of(p, value):
    from .results import to_jsonable
    for opt in p.options:
        if opt == value or to_jsonable(opt) == value or str(opt) == value:
            return opt
    raise BadArguments(f"parameter {p.name!r} = {value!r} is not one of its options "
                       f"{[str(o) for o in p.options]}")


def check_params(space, params) -> dict:
    """``params`` as the runner drew them (types included, so the derived seed
    is the same), or :class:`BadArguments` naming the parameter outside the
    assumptions."""
    from .space import Choice, Float, Int, Seed
    if not isinstance(params, dict):
        raise BadArguments("--params must be a JSON object of parameter values, e.g. '{\"n\": 3}'")
    names = [p.name for p in space.params]
    unknown = [k for k in params if k not in names and k not in space.fixed]
    if unknown:
        raise BadArguments(f"unknown parameter(s) {unknown} (the claim's parameters: {', '.join(names)})")
    values = dict(space.fixed)
    for k, v in space.fixed.items():
        if k in params and params[k] != v and str(params[k]) != str(v):
            raise BadArguments(f"parameter {k!r} is fixed at {v!r} by the assumptions, not {params[k]!r}")
    for p in space.params:
        if p.name not in params:
            raise BadArguments(f"missing parameter {p.name!r} (the claim's parameters: {', '.join(names)})")
        v = params[p.name]
        if isinstance(p, Choice):
            values[p.name] = _option_of(p, v)
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
            raise BadArguments(f"parameter {p.name!r} = {v!r} is not a finite number")
        if isinstance(p, (Int, Seed)):
            if float(v) != int(v):
                raise BadArguments(f"parameter {p.name!r} = {v!r} must be an integer")
            v = int(v)
            if isinstance(p, Seed):
                if not 0 <= v <= 2**31 - 1:
                    raise BadArguments(f"parameter {p.name!r} = {v} is outside its range [0, {2**31 - 1}]")
                values[p.name] = v
                continue
        elif isinstance(p, Float):
            v = float(v)
        if hasattr(p, "bounds"):
            try:
                lo, hi = p.bounds(values)
            except Exception as exc:
                raise BadArguments(f"parameter {p.name!r}: its range cannot be evaluated ({exc})") from None
            if not lo <= v <= hi:
                rng = f"[{p.lo}, {p.hi}]"
                here = "" if not p.names_used() else f" = [{lo:g}, {hi:g}] for these parameters"
                raise BadArguments(f"parameter {p.name!r} = {v!r} is outside its range {rng}{here}")
        values[p.name] = v
    for c in space.constraints:
        try:
            ok = bool(c(values))
        except Exception as exc:
            raise BadArguments(f"constraint {c.source!r} cannot be evaluated: {exc}") from None
        if not ok:
            raise BadArguments(f"constraint {c.source!r} does not hold for these parameters "
                               f"(it names {', '.join(sorted(c.names))})")
    return values


# ---- in the worker ----------------------------------------------------------------------

def find_claim(claim_id: str, paths: list[str]):
    """The claim with this id under ``paths`` (files that mention the id are loaded first)."""
    from .claim import ClaimDefinitionError
    from .discovery import claim_files, load_claim
    try:
        files = claim_files(paths)
    except FileNotFoundError as exc:
        raise BadArguments(str(exc)) from None
    quoted = (f'"{claim_id}"', f"'{claim_id}'")

    def mentions(f: Path) -> bool:
        try:
            text = f.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
        return any(q in text for q in quoted)
    likely = [f for f in files if mentions(f)]
    problems = []
    for f in likely + [f for f in files if f not in likely]:
        try:
            claim = load_claim(f)
        except ClaimDefinitionError as exc:
            if f in likely:
                problems.append(str(exc))
            continue
        if claim.id == claim_id:
            return claim
    if problems:
        raise LoadProblem(problems[0])
    raise BadArguments(f"no claim {claim_id!r} under {' '.join(paths)}")


class LoadProblem(RuntimeError):
    """The claim's module did not load (exit status 1)."""


def _row(e) -> dict:
    from .results import to_jsonable
    return to_jsonable({"name": e.name, "passed": e.passed, "theory": e.theory, "observed": e.observed,
                        "tolerance": e.tolerance, "margin": e.margin, "detail": e.detail,
                        "reads_observation": e.reads_observation})


def reproduce(spec: dict) -> dict:
    """Re-run one draw (in the worker): ``spec`` has id, paths, params, seed,
    profile, device, dtype, batched, mutant, brk.  Returns plain data."""

    from .evaluate import ClaimCodeError, Draw, Evaluator, guarded
    from .verdict import ERROR, FAIL, INCONCLUSIVE, PASS, outcome_from_evidence

    claim = find_claim(spec["id"], spec["paths"])
    params = check_params(claim.assumptions, spec["params"])
    from . import runner
    options = runner.RunOptions(profile=spec["profile"], seed=spec["seed"], device=spec["device"],
                                dtype=spec["dtype"], failures_path=None)
    ev = Evaluator(claim, runner.context_of(options, claim), spec["seed"])  # the run's own context
    batched = bool(spec.get("batched")) and claim.simulate_batch is not None
    from .record import relative_module
    out = {"id": claim.id, "module": relative_module(claim.module_path), "params": params, "batched": batched,
           "batched_requested": bool(spec.get("batched")), "what": "claim", "name": None,
           "sim_params": None, "expect": [], "parts": []}

    def part(label: str, status: str, reason: str, evidence: list) -> dict:
        return {"label": label, "status": status, "reason": reason, "checks": [_row(e) for e in evidence]}

    if spec.get("brk") is not None:
        brk = next((b for b in claim.breaks if b.name == spec["brk"]), None)
        if brk is None:
            raise BadArguments(f"claim {claim.id} has no break {spec['brk']!r} "
                               f"(its breaks: {', '.join(repr(b.name) for b in claim.breaks) or 'none'})")
        try:
            with guarded(f"break {brk.name!r}"):
                broken = brk.apply(copy.deepcopy(params))
        except ClaimCodeError as exc:
            out["parts"].append({"label": f"break {brk.name}", "status": ERROR, "reason": exc.message,
                                 "checks": []})
            return out
        if broken is None:
            raise BadArguments(f"break {brk.name!r} does not apply to these parameters (its apply returned None)")
        out.update(what="break", name=brk.name, sim_params=broken, expect=list(brk.expect))
        draw = Draw(params, f"break:{brk.name}", sim_params=dict(broken), deep=False)
    else:
        draw = Draw(params, "repro", deep=False)
    o = ev.run([draw], batched=batched, mutants=False, resolution=False, plots=False).outcomes[0]
    out["seed"] = o.seed
    label = f"the theorem's prediction against the broken simulation ({out['name']})" if out["what"] == "break" \
        else "the claim"
    out["parts"].append(part(label, o.status, o.reason, o.evidence))
    if spec.get("mutant") is not None:
        m = next((m for m in claim.mutants if m.name == spec["mutant"]), None)
        if m is None:
            raise BadArguments(f"claim {claim.id} has no mutant {spec['mutant']!r} "
                               f"(its mutants: {', '.join(repr(m.name) for m in claim.mutants) or 'none'})")
        out.update(what="mutant", name=m.name)
        if o.prediction is None or o.status not in (PASS, FAIL):
            out["parts"].append({"label": f"mutant {m.name}", "status": INCONCLUSIVE,
                                 "reason": "the claim's own draw was not decided, so the mutant is not evaluated",
                                 "checks": []})
            return out
        try:
            with guarded(f"mutant {m.name!r}"):
                pred = m.derive(copy.deepcopy(params), copy.deepcopy(o.prediction))
                if not isinstance(pred, dict):
                    raise TypeError(f"mutant returned {type(pred).__name__}, not a dict")
            if claim.simulation_uses_prediction or claim.batch_uses_prediction:
                obs = ev.simulate([draw], [pred], batched)[0]
                if isinstance(obs, ClaimCodeError):
                    raise obs
            else:
                obs = o.observation
            evidence, _ = ev.check(pred, obs, params)
            status, reason = outcome_from_evidence(evidence)
            if status == FAIL and not any(e.passed is False and e.reads_observation for e in evidence):
                reason += " (only checks that do not read the simulation failed: this does not refute the mutant)"
            out["parts"].append(part(f"mutant {m.name}", status, reason, evidence))
        except ClaimCodeError as exc:
            out["parts"].append({"label": f"mutant {m.name}", "status": exc.kind, "reason": exc.message,
                                 "checks": []})
    return out


def _worker(spec, conn, main_pid):
    from .executors import local
    local._worker_setup(main_pid, spec["seed"])
    try:
        conn.send(("done", reproduce(spec)))
    except BadArguments as exc:
        conn.send(("bad", str(exc)))
    except LoadProblem as exc:
        conn.send(("load_error", str(exc)))
    except Exception as exc:  # theorycheck itself failed
        import traceback
        conn.send(("crash", f"{type(exc).__name__}: {exc}\n" + traceback.format_exc(limit=6)))
    conn.close()


def run_isolated(spec: dict, timeout_s: float) -> tuple[str, object]:
    """(kind, payload) from a worker: done / bad / load_error / crash / died / timeout."""
    from .executors import local
    ctx = local.context()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(spec, child, os.getpid()), daemon=True)
    local.start(proc)
    child.close()
    t0 = time.monotonic()
    try:
        while True:
            if parent.poll(0.2):
                try:
                    return parent.recv()
                except EOFError:
                    pass
            if not proc.is_alive() and not parent.poll():
                proc.join(timeout=1)
                return ("died", local.exit_cause(proc.exitcode))
            if time.monotonic() - t0 > timeout_s:
                return ("timeout", f"hard timeout after {timeout_s:.0f} s")
    finally:
        local._stop(proc)
        parent.close()


def exit_status(result: dict) -> int:
    """0 when every check of the reproduced draw passed, 1 otherwise."""
    last = result["parts"][-1]
    return 0 if last["status"] == "pass" else 1


def verdict_line(result: dict) -> str:
    last = result["parts"][-1]
    status = last["status"]
    if result["what"] == "mutant":
        return {"fail": "the mutant fails a check here: it is refuted on this draw",
                "pass": "the mutant passes every check here: it survives this draw"}.get(
            status, f"the mutant's draw is {status}")
    if result["what"] == "break":
        failed = [c["name"] for c in last["checks"] if c["passed"] is False]
        if status == "fail":
            hit = [c for c in failed if not result["expect"] or c in result["expect"]]
            return ("the broken simulation fails " + ", ".join(failed) + ": the break is detected" if hit else
                    "the broken simulation fails only " + ", ".join(failed) + ", not the expected "
                    + ", ".join(result["expect"]) + ": the break is not detected for the reason it names")
        return {"pass": "every check passes on the broken simulation: the break is undetected here"}.get(
            status, f"the broken draw is {status}")
    return {"fail": "the counterexample still fails", "pass": "every check passes: the draw no longer fails"}.get(
        status, f"the draw is {status}")


__all__ = ["command", "options_of", "batched_source", "check_params", "reproduce", "run_isolated",
           "exit_status", "verdict_line", "BadArguments"]
