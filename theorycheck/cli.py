"""theorycheck list | run | fuzz | report | show."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from . import results as res
from .discovery import claim_files, discover
from .profiles import PROFILES

VERDICT_STYLE = {"confirmed": "green", "refuted": "red", "inconclusive": "yellow", "error": "magenta"}


class UsageError(Exception):
    """Bad arguments: one line on stderr, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="theorycheck", description=__doc__)
    p.add_argument("--version", action="version", version=f"theorycheck {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    ls = sub.add_parser("list", help="list the claims found under PATHS")
    ls.add_argument("paths", nargs="*", default=["claims"])
    ls.add_argument("--only", help="glob or substring on claim ids")

    for name, helptext in (("run", "run claims (deterministic), write results.json and index.html"),
                           ("fuzz", "like run, but replays the example database first and searches harder")):
        r = sub.add_parser(name, help=helptext)
        r.add_argument("paths", nargs="*", default=["claims"])
        r.add_argument("--profile", default="quick", help="quick | full | gpu (default quick)")
        r.add_argument("--seed", type=int, default=0)
        r.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
        r.add_argument("--dtype", default="float64", choices=["float64", "float32"])
        r.add_argument("--only", help="glob or substring on claim ids")
        r.add_argument("--out", default="reports/latest", help="output folder (default reports/latest)")
        r.add_argument("--jobs", type=int, default=1, help="claims run in parallel worker processes")
        r.add_argument("--examples", type=int, help="override the profile's number of examples")
        r.add_argument("--no-db", action="store_true", help="do not touch .theorycheck/hypothesis")

    rp = sub.add_parser("report", help="regenerate the HTML report from a results file")
    rp.add_argument("results")
    rp.add_argument("-o", "--output", help="HTML file (default: index.html beside the results)")

    sh = sub.add_parser("show", help="show one claim: its definition, or its latest result")
    sh.add_argument("id")
    sh.add_argument("paths", nargs="*", default=["claims"])
    sh.add_argument("--results", default="reports/latest/results.json")
    return p


def _load_claims(paths, only):
    try:
        claim_files(paths)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    return discover(paths, only)


def cmd_list(args, out: Console) -> int:
    claims, failures = _load_claims(args.paths, args.only)
    table = Table("id", "title", "source", "mutants", "breaks")
    for c in claims:
        table.add_row(c.id, c.title, f"{c.source.authors} {c.source.year} ({c.source.seed})",
                      str(len(c.mutants)), str(len(c.breaks)))
    out.print(table)
    for f in failures:
        out.print(f"[red]load error[/red] {f.error}", markup=True, highlight=False)
    return 1 if failures else 0


def cmd_run(args, out: Console, err: Console) -> int:
    from .report import write_html
    from .runner import RunOptions, run_claims
    from .sim.context import device_name, resolve_device

    if args.profile not in PROFILES:
        raise UsageError(f"unknown profile {args.profile!r} (choose from {', '.join(PROFILES)})")
    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.jobs < 1 or (args.examples is not None and args.examples < 1):
        raise UsageError("--jobs and --examples must be positive")
    claims, failures = _load_claims(args.paths, args.only)
    if not claims and not failures:
        where = " ".join(args.paths) + (f" matching {args.only!r}" if args.only else "")
        raise UsageError(f"no claims found under {where}")
    options = RunOptions(profile=args.profile, seed=args.seed, device=device, dtype=args.dtype,
                         database_dir=None if args.no_db else ".theorycheck/hypothesis",
                         replay=args.command == "fuzz", examples=args.examples, jobs=args.jobs)
    outdir = Path(args.out)
    results_path, html_path = outdir / "results.json", outdir / "index.html"
    load_errors = [{"path": f.path, "error": f.error} for f in failures]
    for f in failures:
        err.print(f"[red]load error[/red] {f.error}", markup=True, highlight=False)
    records: list[dict] = []
    started = time.monotonic()

    def document(complete: bool) -> dict:
        return res.build(records, profile=args.profile, seed=args.seed, device=device,
                         device_label=device_name(device), dtype=args.dtype, paths=list(args.paths),
                         load_errors=load_errors, duration_s=time.monotonic() - started, complete=complete)

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[now]}"), console=err, transient=False) as bar:
        task = bar.add_task("claims", total=len(claims), now="")

        def on_start(cid, what):
            bar.update(task, now=f"{cid}: {what}")

        def on_done(record):
            records.append(record)
            res.save_atomic(results_path, document(complete=False))  # no lost results
            bar.advance(task)
            bar.update(task, now=f"{record['id']}: {record['verdict']}")

        run_claims(claims, options, on_start, on_done)
    data = document(complete=True)
    res.save_atomic(results_path, data)
    write_html(data, html_path)
    _summary(data, out)
    out.print(f"results: {results_path}\nreport:  {html_path}", highlight=False)
    return 0 if res.all_good(data) else 1


def _summary(data: dict, out: Console) -> None:
    table = Table("claim", "verdict", "examples", "mutants refuted", "breaks detected", "s")
    for c in data["claims"]:
        style = VERDICT_STYLE.get(c["verdict"], "")
        mut = sum(m["verdict"] == "refuted" for m in c["mutants"])
        brk = sum(b["verdict"] == "detected" for b in c["breaks"])
        table.add_row(c["id"], f"[{style}]{c['verdict']}[/{style}]", str(c["examples"]),
                      f"{mut}/{len(c['mutants'])}", f"{brk}/{len(c['breaks'])}", f"{c['duration_s']:.1f}")
    out.print(table)
    for c in data["claims"]:
        if c["verdict"] != "confirmed":
            out.print(f"{c['id']}: {c['verdict']}: {c['reason'].splitlines()[0] if c['reason'] else ''}",
                      highlight=False, markup=False)
        if c.get("counterexample"):
            ce = c["counterexample"]
            out.print(f"  counterexample {json.dumps(ce['params'])}", highlight=False, markup=False)
            for chk in ce["checks"]:
                if chk["passed"] is False:
                    out.print(f"    {chk['name']}: theory {chk['theory']} vs observed {chk['observed']}",
                              highlight=False, markup=False)


def cmd_report(args, out: Console) -> int:
    from .report import write_html
    try:
        data = res.load(args.results)
    except res.ResultsError as exc:
        raise UsageError(str(exc)) from None
    target = Path(args.output) if args.output else Path(args.results).with_name("index.html")
    write_html(data, target)
    out.print(f"report: {target}", highlight=False)
    return 0


def cmd_show(args, out: Console) -> int:
    claims, failures = _load_claims(args.paths, None)
    match = [c for c in claims if c.id == args.id]
    if not match:
        raise UsageError(f"no claim {args.id!r} under {' '.join(args.paths)}")
    c = match[0]
    out.print(f"[bold]{c.id}[/bold] — {c.title}")
    out.print(c.statement, highlight=False, markup=False)
    out.print(f"source: {c.source.paper} ({c.source.authors}, {c.source.year}; {c.source.seed})", markup=False)
    out.print(f"module: {c.module_path}", markup=False)
    if c.math is not None:
        out.print(f"math: {c.math_expr()}", markup=False)
    out.print("assumptions:", json.dumps(c.assumptions.describe(), indent=1), markup=False)
    out.print("checks: " + ", ".join(ch.name for ch in c.checks), markup=False)
    out.print("mutants: " + ", ".join(m.name for m in c.mutants), markup=False)
    out.print("breaks: " + ", ".join(b.name for b in c.breaks), markup=False)
    path = Path(args.results)
    if path.exists():
        try:
            data = res.load(path)
        except res.ResultsError:
            data = {"claims": []}
        for r in data["claims"]:
            if r["id"] == c.id:
                out.print(f"latest result ({path}): {r['verdict']} — {r['reason']}", markup=False)
                for m in r["mutants"]:
                    out.print(f"  mutant {m['name']}: {m['verdict']}", markup=False)
                for b in r["breaks"]:
                    out.print(f"  break {b['name']}: {b['verdict']}", markup=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    # logs (CI, pipes) get a wide table instead of 80 truncated columns
    width = None if sys.stdout.isatty() else 160
    out, err = Console(width=width), Console(stderr=True, width=None if sys.stderr.isatty() else 160)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one line
        return int(exc.code or 0) if exc.code in (0, None) else 2
    try:
        if args.command == "list":
            return cmd_list(args, out)
        if args.command in ("run", "fuzz"):
            return cmd_run(args, out, err)
        if args.command == "report":
            return cmd_report(args, out)
        return cmd_show(args, out)
    except UsageError as exc:
        print(f"theorycheck: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("theorycheck: interrupted; results written so far are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
