"""theorycheck list | run | fuzz | report | show | repro | diff | new.

Claim modules are user code: they are imported and run only in worker
processes, so nothing a claim does (raise, exit, crash, hang, change global
state) reaches this process.  Every problem the user can fix is one line on
stderr (no traceback; ``--debug`` shows them) and a non-zero exit status:
2 for bad arguments, 1 when a claim is not as expected or a file is
malformed, 130 after Ctrl-C (finished results are kept)."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from . import results as res

VERDICT_STYLE = {"confirmed": "green", "refuted": "red", "inconclusive": "yellow", "error": "magenta"}


class UsageError(Exception):
    """Bad arguments: one line on stderr, exit status 2."""


class FileProblem(Exception):
    """A malformed or unreadable input file: one line on stderr, exit status 1."""


class Terminated(KeyboardInterrupt):
    """SIGTERM: stop like Ctrl-C."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="theorycheck", description=__doc__.split("\n\n")[0])
    p.add_argument("--version", action="version", version=f"theorycheck {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    ls = sub.add_parser("list", help="list the claims found under PATHS")
    ls.add_argument("paths", nargs="*", default=["claims"])
    ls.add_argument("--only", help="glob or substring on claim ids")

    for name, helptext in (("run", "run claims (deterministic), write results.json and index.html"),
                           ("fuzz", "like run, but replays stored counterexamples first and searches harder")):
        r = sub.add_parser(name, help=helptext)
        r.add_argument("paths", nargs="*", default=["claims"])
        r.add_argument("--profile", default="quick", help="quick | full | gpu (default quick)")
        r.add_argument("--seed", type=int, default=0)
        r.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
        r.add_argument("--dtype", default="float64", choices=["float64", "float32"])
        r.add_argument("--only", help="glob or substring on claim ids")
        r.add_argument("--out", default="reports/latest", help="output folder (default reports/latest)")
        r.add_argument("--jobs", type=int, default=None,
                       help="claims run at once, each in its own worker (default: the number of CPUs)")
        r.add_argument("--executor", default="local", help="local (default) | inline (no isolation) | ray")
        r.add_argument("--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS, else local)")
        r.add_argument("--sweep", type=int, help="override the profile's number of space-filling draws")
        r.add_argument("--search", type=int, help="override the profile's number of hypothesis draws")
        r.add_argument("--examples", type=int, dest="sweep_alias", help=argparse.SUPPRESS)
        r.add_argument("--budget", type=float, help="soft time budget per claim in seconds (default: profile's)")
        r.add_argument("--timeout", type=float, help="hard timeout per claim in seconds (default: budget × 3 + 60)")
        r.add_argument("--no-db", action="store_true", help="neither read nor write .theorycheck/failures.json")
        r.add_argument("--debug", action="store_true", help="print claim-code tracebacks")

    rp = sub.add_parser("report", help="regenerate the HTML report from a results file")
    rp.add_argument("results")
    rp.add_argument("-o", "--output", help="HTML file (default: index.html beside the results)")
    rp.add_argument("--baseline", help="an older results file: the report shows what changed since")

    sh = sub.add_parser("show", help="show one claim: its definition, and its latest result")
    sh.add_argument("id")
    sh.add_argument("paths", nargs="*", default=["claims"])
    sh.add_argument("--results", default="reports/latest/results.json")

    rr = sub.add_parser("repro", help="re-run one draw (a counterexample, a mutant or break example) and "
                                      "print both sides of every check")
    rr.add_argument("id")
    rr.add_argument("paths", nargs="*", default=["claims"])
    rr.add_argument("--params", required=True, help="the draw, as a JSON object: '{\"n\": 3, \"eta\": 0.5}'")
    rr.add_argument("--seed", type=int, default=0, help="the run's global seed (default 0)")
    rr.add_argument("--profile", default="quick", help="the run's profile (default quick)")
    rr.add_argument("--device", default="cpu", help="cpu (default) | cuda | auto")
    rr.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    rr.add_argument("--batched", action="store_true",
                    help="through simulate_batch, as the sweep ran the draw (the printed command says when)")
    which = rr.add_mutually_exclusive_group()
    which.add_argument("--mutant", help="evaluate this mutant on the draw")
    which.add_argument("--break", dest="brk", metavar="BREAK", help="simulate this assumption break of the draw")
    rr.add_argument("--timeout", type=float, help="hard timeout in seconds (default: the profile's)")
    rr.add_argument("--debug", action="store_true", help="print claim-code tracebacks")

    df = sub.add_parser("diff", help="compare two results files; exit 1 when something got worse")
    df.add_argument("old")
    df.add_argument("new")
    df.add_argument("--json", action="store_true", help="print the diff as JSON")

    nw = sub.add_parser("new", help="write a commented claim skeleton that runs: claims/FAMILY/NAME.py")
    nw.add_argument("id", help="family.name, e.g. stability.my_threshold")
    nw.add_argument("--dir", default="claims", help="the claims folder (default claims)")
    nw.add_argument("--force", action="store_true", help="overwrite an existing file")
    return p


# ---- helpers -----------------------------------------------------------------------------

def _discover(paths, only):
    from .discovery import claim_files, discover_isolated
    try:
        claim_files(paths)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    return discover_isolated(paths, only)


def _writable_dir(path: Path, flag: str) -> None:
    """Fail before any claim runs when the output folder cannot be written."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".theorycheck-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write there ({exc.strerror or exc})") from None


def _writable_file(path: Path, flag: str) -> None:
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a folder; give a file name (e.g. {path / 'index.html'})")
    _writable_dir(path.parent if str(path.parent) else Path("."), f"{flag} {path}: folder")


def _load_results(path: str) -> dict:
    try:
        return res.load(path)
    except res.ResultsError as exc:
        raise FileProblem(str(exc)) from None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else ""


# ---- commands ----------------------------------------------------------------------------

def cmd_list(args, out: Console, err: Console) -> int:
    claims, failures = _discover(args.paths, args.only)
    table = Table("id", "title", "source", "mutants", "breaks", "regimes", "expected")
    for c in claims:
        s = c["source"]
        table.add_row(c["id"], c["title"], f"{s.get('authors')} {s.get('year')} ({s.get('abstracts')})",
                      str(len(c["mutants"])), str(len(c["breaks"])), str(len(c["regimes"])), c["expected"])
    out.print(table)
    for f in failures:
        err.print(f"load error: {f.error}", markup=False, highlight=False)
    return 1 if failures else 0


def _options(args):
    from .profiles import PROFILES
    from .runner import RunOptions
    from .sim.context import resolve_device

    if args.profile not in PROFILES:
        raise UsageError(f"unknown profile {args.profile!r} (choose from {', '.join(PROFILES)})")
    if args.executor == "ray" and args.device in ("auto", "cuda"):
        device = args.device  # the cluster decides: the driver makes no CUDA call (fork / CUDA pitfalls)
    else:
        try:
            device = resolve_device(args.device)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    sweep = args.sweep if args.sweep is not None else args.sweep_alias
    for flag, v in (("--jobs", args.jobs), ("--sweep", sweep), ("--budget", args.budget),
                    ("--timeout", args.timeout)):
        if v is not None and v <= 0:
            raise UsageError(f"{flag} must be positive")
    if args.search is not None and args.search < 0:
        raise UsageError("--search must be 0 or more")
    if args.executor not in ("local", "inline", "ray"):
        raise UsageError(f"unknown executor {args.executor!r} (choose local, inline or ray)")
    jobs = args.jobs or max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else
                            (os.cpu_count() or 1))
    return RunOptions(profile=args.profile, seed=args.seed, device=device, dtype=args.dtype,
                      replay=args.command == "fuzz", search=args.search, sweep=sweep, budget_s=args.budget,
                      timeout_s=args.timeout, jobs=jobs,
                      failures_path=None if args.no_db else ".theorycheck/failures.json")


def cmd_run(args, out: Console, err: Console) -> int:
    from . import failures as store
    from .executors import get_executor
    from .runner import assemble
    from .sim.context import device_name

    options = _options(args)
    outdir = Path(args.out)
    _writable_dir(outdir, "--out")
    if args.executor == "ray":
        from .executors.ray import check_available
        try:
            check_available()
        except RuntimeError as exc:
            raise UsageError(str(exc)) from None
    claims, failures = _discover(args.paths, args.only)
    if not claims and not failures:
        where = " ".join(args.paths) + (f" matching {args.only!r}" if args.only else "")
        raise UsageError(f"no claims found under {where}")
    results_path, html_path = outdir / "results.json", outdir / "index.html"
    load_errors = [{"path": f.path, "error": f.error} for f in failures]
    for f in failures:
        err.print(f"load error: {f.error}", markup=False, highlight=False)
    stored = store.load(options.failures_path) if options.replay else {}
    tasks = [{"path": c["path"], "id": c["id"], "title": c["title"], "expected": c["expected"],
              "replay": stored.get(c["id"], [])} for c in claims]
    records: list[dict] = []
    started = time.monotonic()

    executor_kw = {"address": args.address} if args.executor == "ray" else {}
    executor = get_executor(args.executor, options, **executor_kw)
    options = executor.options  # the Ray executor settles "auto" from the cluster
    label = getattr(executor, "device_label", None) or device_name(options.device)

    def document(complete: bool) -> dict:
        return res.build(records, profile=args.profile, seed=args.seed, device=options.device,
                         device_label=label, dtype=args.dtype, paths=list(args.paths),
                         load_errors=load_errors, duration_s=time.monotonic() - started, complete=complete,
                         executor=args.executor, jobs=options.jobs)

    interrupted = False
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[now]}"), console=err, transient=False) as bar:
        task = bar.add_task("claims", total=len(tasks), now="")

        def on_progress(cid, what):
            bar.update(task, now=f"{cid}: {what}")

        def on_record(record):
            records.append(record)
            res.save_atomic(results_path, document(complete=False))  # no lost results
            if record.get("counterexample") and options.failures_path:
                store.add(options.failures_path, record["id"], record["counterexample"]["params"])
            bar.advance(task)
            bar.update(task, now=f"{record['id']}: {record['verdict']}")

        try:
            executor.run(tasks, lambda data: assemble(data, options), on_progress, on_record)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            close = getattr(executor, "close", None)
            if close:
                close()
    data = document(complete=not interrupted)
    res.save_atomic(results_path, data)
    if interrupted:
        err.print(f"theorycheck: interrupted; {len(records)} finished claim(s) kept in {results_path}",
                  markup=False, highlight=False)
        return 130
    html_ok = _write_report(data, html_path, err)
    _summary(data, out, debug=args.debug, err=err)
    out.print(f"results: {results_path}\nreport:  {html_path if html_ok else '(not written)'}", highlight=False)
    return 0 if res.all_good(data) and html_ok else 1


def _write_report(data: dict, path: Path, err: Console) -> bool:
    from .report import write_html
    try:
        write_html(data, path)
        return True
    except Exception as exc:  # the results file is already safe on disk
        err.print(f"theorycheck: the HTML report could not be written ({type(exc).__name__}: {exc}); "
                  "results.json is kept", markup=False, highlight=False)
        return False


def _resolution_cell(c: dict) -> str:
    from .phases.resolution import fmt
    rs = [r for r in (c.get("resolution") or {}).values() if isinstance(r, dict) and r.get("met") is not None]
    if not rs:
        return "—"
    worst = None
    for r in rs:
        if r["kind"] not in ("relative", "absolute"):
            continue
        for side in r["sides"]:
            v = r.get(side)
            v = 1.0 if v is None else v
            worst = v if worst is None else max(worst, v)
    mark = "" if all(r["met"] for r in rs) else " (weak)"
    return (fmt(worst) if worst is not None and worst < 1.0 else "> 10 %" if worst else "exact") + mark


def _summary(data: dict, out: Console, debug: bool = False, err: Console | None = None) -> None:
    table = Table("claim", "verdict", "draws", "resolution", "regimes", "mutants", "breaks", "s")
    for c in data["claims"]:
        style = VERDICT_STYLE.get(c["verdict"], "")
        verdict = c["verdict"] + (" (expected)" if c.get("expected") == "refuted" and c["verdict"] == "refuted"
                                  else "")
        mut = sum(m["verdict"] == "refuted" for m in c["mutants"])
        brk = sum(b["verdict"] == "detected" for b in c["breaks"])
        regimes = c.get("regimes") or {}
        reg = f"{sum(r.get('covered', False) for r in regimes.values())}/{len(regimes)}" if regimes else "—"
        table.add_row(c["id"], f"[{style}]{verdict}[/{style}]", f"{c.get('decided', 0)}/{c['examples']}",
                      _resolution_cell(c), reg, f"{mut}/{len(c['mutants'])}", f"{brk}/{len(c['breaks'])}",
                      f"{c['duration_s']:.1f}" if isinstance(c["duration_s"], (int, float)) else "—")
    out.print(table)
    for c in data["claims"]:
        if not res.as_expected(c):
            out.print(f"{c['id']}: {c['verdict']}: {_first_line(c['reason'])}", highlight=False, markup=False)
            if debug and c.get("error_trace") and err is not None:
                err.print(c["error_trace"], markup=False, highlight=False)
        ce = c.get("counterexample")
        if ce:
            out.print(f"  counterexample {json.dumps(ce['params'])} (seed {ce['seed']}, found by {ce.get('source')})",
                      highlight=False, markup=False)
            for chk in ce["checks"]:
                if chk["passed"] is False:
                    out.print(f"    {chk['name']}: theory {chk['theory']} vs observed {chk['observed']}",
                              highlight=False, markup=False)
            if ce.get("repro"):
                out.print(f"  reproduce: {ce['repro']}", highlight=False, markup=False, soft_wrap=True)
            if c.get("failure_region"):
                from .region import describe
                out.print(f"  where it fails: {describe(c['failure_region'])}", highlight=False, markup=False)
        for line in _weak_lines(c):
            out.print(line, highlight=False, markup=False, soft_wrap=True)
    n = len(data["claims"])
    good = sum(res.as_expected(c) for c in data["claims"])
    decided = [c.get("decided", 0) for c in data["claims"]]
    out.print(f"{good}/{n} claims as expected; draws decided per claim: min {min(decided) if decided else 0}, "
              f"median {sorted(decided)[len(decided) // 2] if decided else 0}; wall time {data['duration_s']:.0f} s",
              highlight=False, markup=False)


def _weak_lines(c: dict) -> list[str]:
    """A surviving mutant or an undetected break: what it is and the command that re-runs its draw."""
    lines = []
    for kind, entries, bad in (("mutant", c.get("mutants") or [], "survived"),
                               ("break", c.get("breaks") or [], "undetected")):
        for e in entries:
            if e.get("verdict") != bad:
                continue
            lines.append(f"  {kind} {e['name']!r} {bad}: {_first_line(e.get('reason', ''))}")
            example = e.get("example") if isinstance(e.get("example"), dict) else {}
            if example.get("repro"):
                lines.append(f"    reproduce: {example['repro']}")
    return lines


def cmd_report(args, out: Console, err: Console) -> int:
    data = _load_results(args.results)
    baseline = _load_results(args.baseline) if args.baseline else None
    target = Path(args.output) if args.output else Path(args.results).with_name("index.html")
    _writable_file(target, "-o")
    if baseline is not None:
        from .report import write_html
        try:
            write_html(data, target, baseline=baseline, baseline_path=args.baseline, results_path=args.results)
        except Exception as exc:
            err.print(f"theorycheck: the HTML report could not be written ({type(exc).__name__}: {exc})",
                      markup=False, highlight=False)
            return 1
    elif not _write_report(data, target, err):
        return 1
    out.print(f"report: {target}", highlight=False)
    return 0


def cmd_repro(args, out: Console, err: Console) -> int:
    from . import repro
    from .profiles import PROFILES, get_profile
    from .sim.context import resolve_device

    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--params is not valid JSON ({exc.msg} at column {exc.colno}): {args.params}") from None
    if not isinstance(params, dict):
        raise UsageError("--params must be a JSON object of parameter values, e.g. '{\"n\": 3}'")
    if args.profile not in PROFILES:
        raise UsageError(f"unknown profile {args.profile!r} (choose from {', '.join(PROFILES)})")
    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    for p in args.paths:
        if not Path(p).exists():
            raise UsageError(f"no such claim path: {p}")
    spec = {"id": args.id, "paths": list(args.paths), "params": params, "seed": args.seed,
            "profile": args.profile, "device": device, "dtype": args.dtype, "batched": args.batched,
            "mutant": args.mutant, "brk": args.brk}
    timeout = args.timeout or get_profile(args.profile).hard_timeout_s
    kind, payload = repro.run_isolated(spec, timeout)
    if kind == "bad":
        raise UsageError(payload)
    if kind == "load_error":
        raise FileProblem(f"load error: {payload}")
    if kind != "done":
        what = {"crash": "theorycheck failed while reproducing the draw", "died": "the worker died",
                "timeout": "the draw did not finish"}.get(kind, kind)
        err.print(f"theorycheck: {what}: {_first_line(str(payload)) if kind == 'crash' else payload}",
                  markup=False, highlight=False)
        if args.debug and kind == "crash":
            err.print(payload, markup=False, highlight=False)
        return 1
    _print_repro(payload, spec, out)
    return repro.exit_status(payload)


def _print_repro(r: dict, spec: dict, out: Console) -> None:
    from . import repro
    say = lambda text: out.print(text, highlight=False, markup=False, soft_wrap=True)  # noqa: E731
    path = "simulate_batch (as the sweep ran it)" if r["batched"] else "simulate"
    if r["batched_requested"] and not r["batched"]:
        path += " (--batched: the claim has no simulate_batch)"
    say(f"{r['id']} ({r['module']})")
    say(f"draw {json.dumps(r['params'], ensure_ascii=False, default=str)}")
    if r.get("sim_params") is not None:
        say(f"broken draw the simulation sees: {json.dumps(r['sim_params'], ensure_ascii=False, default=str)}")
    say(f"run options: seed {spec['seed']}, profile {spec['profile']}, device {spec['device']}, dtype {spec['dtype']}; "
        f"simulation seed {r.get('seed')}; through {path}")
    for part in r["parts"]:
        say("")
        say(f"{part['label']}: {part['status'].upper()}" + (f" — {part['reason']}" if part["reason"] else ""))
        if part["checks"]:
            table = Table("check", "result", "theory", "observed", "tolerance", "margin", "detail")
            for c in part["checks"]:
                result = "passed" if c["passed"] else ("FAILED" if c["passed"] is False else "undecided")
                table.add_row(*(str(x) for x in (c["name"], result, _v(c["theory"]), _v(c["observed"]),
                                                  _v(c["tolerance"]), _v(c["margin"]), c.get("detail") or "")))
            out.print(table)
    say("")
    say(f"result: {repro.verdict_line(r)} (exit status {repro.exit_status(r)})")


def _v(x) -> str:
    from .report.html import value
    return value(x, limit=200)


def cmd_diff(args, out: Console, err: Console) -> int:
    from .diff import compare, render_text
    old, new = _load_results(args.old), _load_results(args.new)
    d = compare(old, new, args.old, args.new)
    if args.json:
        print(json.dumps(d.as_dict(), indent=1, ensure_ascii=False))
    else:
        out.print(render_text(d), highlight=False, markup=False, soft_wrap=True)
    return 1 if d.worse else 0


def cmd_new(args, out: Console, err: Console) -> int:
    from . import scaffold
    try:
        path = scaffold.write(args.id, args.dir, force=args.force)
    except scaffold.ScaffoldError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write the skeleton: {exc.strerror or exc}") from None
    family = args.id.split(".")[0]
    out.print(f"wrote {path}\nrun it:   theorycheck run {path} --out reports/{family}\n"
              f"then see docs/writing-claims.md to turn it into your theorem", highlight=False, markup=False)
    return 0


def cmd_show(args, out: Console, err: Console) -> int:
    claims, failures = _discover(args.paths, None)
    match = [c for c in claims if c["id"] == args.id]
    if not match:
        raise UsageError(f"no claim {args.id!r} under {' '.join(args.paths)}")
    c = match[0]
    s = c["source"]
    out.print(f"[bold]{c['id']}[/bold] — {c['title']}")
    out.print(c["statement"], highlight=False, markup=False)
    out.print(f"source: {s.get('paper')} ({s.get('authors')}, {s.get('year')}; {s.get('abstracts')})", markup=False)
    if s.get("note"):
        out.print(f"note: {s['note']}", markup=False, highlight=False)
    out.print(f"module: {c['module']}", markup=False)
    if c.get("math"):
        out.print(f"math: {c['math']['text']}", markup=False)
    out.print("assumptions:", json.dumps(c["assumptions"], indent=1, ensure_ascii=False), markup=False)
    out.print("checks: " + ", ".join(ch["name"] for ch in c["checks"]), markup=False)
    out.print("mutants: " + ", ".join(m["name"] for m in c["mutants"]), markup=False)
    out.print("breaks: " + ", ".join(f"{b['name']} (expect: {', '.join(b['expect']) or 'any check'})"
                                     for b in c["breaks"]), markup=False)
    if c["regimes"]:
        out.print("regimes: " + ", ".join(f"{k}: {v}" for k, v in c["regimes"].items()), markup=False)
    path = Path(args.results)
    if path.exists():
        data = _load_results(str(path))
        for r in data["claims"]:
            if r["id"] == c["id"]:
                out.print(f"latest result ({path}): {r['verdict']} — {r['reason']}", markup=False)
                _show_result(r, out)
    return 0


def _show_result(r: dict, out: Console) -> None:
    """The latest result of one claim: evidence per source, the counterexample with the
    command that reproduces it, where the claim fails, mutants, breaks, resolution, regimes."""
    from .region import describe
    say = lambda text: out.print(text, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    by_source = r.get("draws_by_source") or {}
    if by_source:
        say("  draws: " + "; ".join(f"{src} {v.get('passed', 0)} passed, {v.get('failed', 0)} failed, "
                                    f"{v.get('inconclusive', 0)} inconclusive" + (f", {v['error']} error"
                                                                                 if v.get("error") else "")
                                    for src, v in by_source.items()))
    for reason, n in (r.get("inconclusive_reasons") or {}).items():
        say(f"  inconclusive ({n}): {reason}")
    for w in r.get("warnings") or []:
        if isinstance(w, dict):
            say(f"  warning (×{w.get('count')}): {w.get('warning')}")
    ce = r.get("counterexample")
    if ce:
        say(f"  counterexample {json.dumps(ce['params'], ensure_ascii=False)} (seed {ce['seed']}, "
            f"found by {ce.get('source')})")
        for chk in ce.get("checks") or []:
            mark = "FAILED" if chk["passed"] is False else "passed" if chk["passed"] else "undecided"
            say(f"    {chk['name']}: {mark}: theory {chk['theory']} vs observed {chk['observed']} "
                f"(margin {chk['margin']})")
        if ce.get("repro"):
            say(f"  reproduce: {ce['repro']}")
    if r.get("failure_region"):
        say(f"  where it fails: {describe(r['failure_region'])}")
    if r.get("expected") == "refuted":
        say("  published statement expected to fail as stated" + (f"; rescued by {r['rescue']}"
                                                                  if r.get("rescue") else ""))
    for m in r["mutants"]:
        say(f"  mutant {m['name']}: {m['verdict']}")
    for b in r["breaks"]:
        say(f"  break {b['name']}: {b['verdict']}")
    for line in _weak_lines(r):
        if "reproduce:" in line:
            say(line)
    from .phases.resolution import fmt
    for k, v in (r.get("resolution") or {}).items():
        if not isinstance(v, dict):
            continue
        kind = v.get("kind", "relative")
        promised = v.get("promised")
        promised = fmt(promised, kind) if isinstance(promised, (int, float)) else promised
        say(f"  resolution {k}: − {fmt(v.get('minus'), kind)} / + {fmt(v.get('plus'), kind)} (promised {promised}"
            + ("" if v.get("met") is not False else "; missed") + ")")
    for name, c in (r.get("regimes") or {}).items():
        if isinstance(c, dict):
            say(f"  regime {name}: {c.get('decided')} decided of {c.get('drawn')} drawn (quota {c.get('quota')}; "
                f"{'covered' if c.get('covered') else 'NOT covered'})")


COMMANDS = {"list": cmd_list, "run": cmd_run, "fuzz": cmd_run, "report": cmd_report, "show": cmd_show,
            "repro": cmd_repro, "diff": cmd_diff, "new": cmd_new}


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    # logs (CI, pipes) get a wide table instead of 80 truncated columns
    width = None if sys.stdout.isatty() else 160
    out, err = Console(width=width), Console(stderr=True, width=None if sys.stderr.isatty() else 160)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one line
        return int(exc.code or 0) if exc.code in (0, None) else 2
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (embedded use)
        pass
    try:
        return COMMANDS[args.command](args, out, err)
    except UsageError as exc:
        print(f"theorycheck: error: {exc}", file=sys.stderr)
        return 2
    except FileProblem as exc:
        print(f"theorycheck: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("theorycheck: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
