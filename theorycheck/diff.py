"""Compare two results files: ``theorycheck diff OLD.json NEW.json``.

What changed between two runs of a claim library, claim by claim: verdicts,
counterexamples that appeared or vanished, mutants and breaks whose verdict
flipped, the measured resolution, regime coverage, the failure region, and
claims added or removed.  Each change is *worse*, *better* or a neutral
*change*; ``worse`` is what a CI gate fails on (exit status 1).

Worse: a claim that was as expected and is not any more; a new
counterexample (of a claim expected to be confirmed); a mutant refuted
before that survives now; a break detected before that is undetected now; a
resolution that met its promise and does not now; a regime covered before
and not now; a claim removed; a new module load error; a run that did not
complete.  The HTML report shows the same diff when given a baseline
(``theorycheck report NEW.json --baseline OLD.json``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from .results import as_expected

WORSE, BETTER, CHANGED = "worse", "better", "changed"


@dataclass
class Change:
    claim: str          # claim id ("" for the run as a whole)
    what: str           # verdict | counterexample | mutant | break | resolution | regime | region | claim | run
    kind: str           # worse | better | changed
    text: str


@dataclass
class Diff:
    old: dict           # {path, profile, seed, device, dtype, claims}
    new: dict
    changes: list = field(default_factory=list)
    added: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    unchanged: int = 0
    notes: list = field(default_factory=list)

    @property
    def worse(self) -> bool:
        return any(c.kind == WORSE for c in self.changes)

    def of(self, kind: str) -> list:
        return [c for c in self.changes if c.kind == kind]

    def for_claim(self, cid: str) -> list:
        return [c for c in self.changes if c.claim == cid]

    def status_of(self, cid: str) -> str:
        """worse / better / changed / added / "" for one claim (the report's table)."""
        if cid in self.added:
            return "added"
        kinds = {c.kind for c in self.for_claim(cid)}
        for k in (WORSE, BETTER, CHANGED):
            if k in kinds:
                return k
        return ""

    def as_dict(self) -> dict:
        return {"old": self.old, "new": self.new, "worse": self.worse, "added": self.added,
                "removed": self.removed, "unchanged": self.unchanged, "notes": self.notes,
                "changes": [asdict(c) for c in self.changes]}


def _run_info(data: dict, path: str = "") -> dict:
    return {"path": path, "profile": data.get("profile"), "seed": data.get("seed"), "device": data.get("device"),
            "dtype": data.get("dtype"), "claims": len(data.get("claims") or []),
            "theorycheck": data.get("theorycheck_version"), "complete": data.get("complete", True)}


def _params(p) -> str:
    return json.dumps(p, ensure_ascii=False, default=str) if isinstance(p, dict) else str(p)


def _pct(v) -> str:
    if v is None:
        return "> 10 %"
    if isinstance(v, (int, float)):
        return f"{v * 100:.2g} %"
    return str(v)


def _entries(c: dict, field_name: str) -> dict:
    return {e.get("name"): e for e in (c.get(field_name) or []) if isinstance(e, dict)}


def compare_claim(cid: str, old: dict, new: dict) -> list[Change]:
    out: list[Change] = []
    ov, nv = old.get("verdict"), new.get("verdict")
    good_old, good_new = as_expected(old), as_expected(new)
    expects_refuted = new.get("expected", "confirmed") == "refuted"
    if ov != nv or good_old != good_new:
        kind = WORSE if good_old and not good_new else BETTER if good_new and not good_old else CHANGED
        reason = (new.get("reason") or "").strip().splitlines()
        out.append(Change(cid, "verdict", kind, f"verdict {ov} → {nv}" + (f": {reason[0]}" if reason else "")))
    oce, nce = old.get("counterexample"), new.get("counterexample")
    if nce and not oce:
        out.append(Change(cid, "counterexample", CHANGED if expects_refuted else WORSE,
                          f"new counterexample {_params(nce.get('params'))}"))
    elif oce and not nce:
        out.append(Change(cid, "counterexample", WORSE if expects_refuted else BETTER,
                          f"counterexample {_params(oce.get('params'))} vanished"))
    elif oce and nce and oce.get("params") != nce.get("params"):
        out.append(Change(cid, "counterexample", CHANGED,
                          f"counterexample moved: {_params(oce.get('params'))} → {_params(nce.get('params'))}"))
    for field_name, good, label in (("mutants", "refuted", "mutant"), ("breaks", "detected", "break")):
        om, nm = _entries(old, field_name), _entries(new, field_name)
        for name in nm:
            if name not in om:
                out.append(Change(cid, label, CHANGED, f"{label} {name!r} added ({nm[name].get('verdict')})"))
                continue
            a, b = om[name].get("verdict"), nm[name].get("verdict")
            if a == b:
                continue
            kind = WORSE if a == good else BETTER if b == good else CHANGED
            out.append(Change(cid, label, kind, f"{label} {name!r}: {a} → {b}"))
        for name in om:
            if name not in nm:
                out.append(Change(cid, label, CHANGED, f"{label} {name!r} removed"))
    ores, nres = old.get("resolution") or {}, new.get("resolution") or {}
    for key in sorted(set(ores) | set(nres)):
        a, b = ores.get(key), nres.get(key)
        if not isinstance(a, dict) or not isinstance(b, dict):
            if isinstance(b, dict) and b.get("met") is False:
                out.append(Change(cid, "resolution", WORSE, f"resolution of {key!r} now measured and short of its "
                                  f"promise: {b.get('reason') or ''}".rstrip(": ")))
            continue
        sides = []
        for side, sign in (("minus", "−"), ("plus", "+")):
            if a.get(side) != b.get(side):
                sides.append(f"{sign} {_pct(a.get(side))} → {_pct(b.get(side))}")
        met_a, met_b = a.get("met"), b.get("met")
        if met_a is True and met_b is False:
            kind = WORSE
        elif met_a is False and met_b is True:
            kind = BETTER
        elif sides:
            kind = CHANGED
        else:
            continue
        text = f"resolution of {key!r}: " + (", ".join(sides) if sides else "unchanged values")
        if met_a != met_b:
            text += f" (promise {'met' if met_b else 'missed'} now)"
        out.append(Change(cid, "resolution", kind, text))
    oreg, nreg = old.get("regimes") or {}, new.get("regimes") or {}
    for name in sorted(set(oreg) | set(nreg)):
        a, b = oreg.get(name), nreg.get(name)
        if not isinstance(b, dict):
            out.append(Change(cid, "regime", CHANGED, f"regime {name!r} removed"))
            continue
        if not isinstance(a, dict):
            out.append(Change(cid, "regime", CHANGED if b.get("covered") else WORSE,
                              f"regime {name!r} added ({b.get('decided')} decided draws"
                              f"{'' if b.get('covered') else ', not covered'})"))
            continue
        if a.get("covered") and not b.get("covered"):
            kind = WORSE
        elif b.get("covered") and not a.get("covered"):
            kind = BETTER
        elif a.get("decided") != b.get("decided"):
            kind = CHANGED
        else:
            continue
        out.append(Change(cid, "regime", kind, f"regime {name!r}: {a.get('decided')} → {b.get('decided')} decided "
                          f"draws ({'covered' if b.get('covered') else 'not covered'}, quota {b.get('quota')})"))
    oreg_f, nreg_f = old.get("failure_region"), new.get("failure_region")
    if isinstance(oreg_f, dict) and isinstance(nreg_f, dict):
        if oreg_f.get("share") != nreg_f.get("share") or oreg_f.get("rule") != nreg_f.get("rule"):
            out.append(Change(cid, "region", CHANGED,
                              f"failure region: {_share(oreg_f)} → {_share(nreg_f)}"))
    od, nd = old.get("decided"), new.get("decided")
    if isinstance(od, int) and isinstance(nd, int) and nd < od and not out:
        out.append(Change(cid, "draws", CHANGED, f"decided draws {od} → {nd}"))
    return out


def _share(r: dict) -> str:
    share = r.get("share")
    text = f"{share:.0%} failing" if isinstance(share, (int, float)) else "?"
    return text + (f", {r['rule']}" if r.get("rule") else "")


def compare(old: dict, new: dict, old_path: str = "", new_path: str = "") -> Diff:
    d = Diff(_run_info(old, old_path), _run_info(new, new_path))
    for k in ("profile", "seed", "device", "dtype"):
        if old.get(k) != new.get(k):
            d.notes.append(f"the runs differ in {k}: {old.get(k)} → {new.get(k)} (changes may come from that)")
    if old.get("complete", True) and not new.get("complete", True):
        d.changes.append(Change("", "run", WORSE, "the new run did not complete"))
    old_errors = {e.get("path") for e in old.get("load_errors") or [] if isinstance(e, dict)}
    for e in new.get("load_errors") or []:
        if isinstance(e, dict) and e.get("path") not in old_errors:
            d.changes.append(Change("", "load", WORSE, f"load error: {e.get('error')}"))
    new_errors = {e.get("path") for e in new.get("load_errors") or [] if isinstance(e, dict)}
    for p in sorted(old_errors - new_errors):
        d.changes.append(Change("", "load", BETTER, f"{p} loads now"))
    oc = {c["id"]: c for c in old.get("claims") or [] if isinstance(c, dict) and "id" in c}
    nc = {c["id"]: c for c in new.get("claims") or [] if isinstance(c, dict) and "id" in c}
    d.added = sorted(set(nc) - set(oc))
    d.removed = sorted(set(oc) - set(nc))
    for cid in d.removed:
        d.changes.append(Change(cid, "claim", WORSE, f"claim removed (was {oc[cid].get('verdict')})"))
    for cid in d.added:
        c = nc[cid]
        d.changes.append(Change(cid, "claim", CHANGED if as_expected(c) else WORSE,
                                f"claim added: {c.get('verdict')}" + ("" if as_expected(c) else " (not as expected)")))
    for cid in sorted(set(oc) & set(nc)):
        got = compare_claim(cid, oc[cid], nc[cid])
        d.changes += got
        d.unchanged += not got
    return d


def render_text(d: Diff) -> str:
    lines = [f"old: {d.old['path'] or 'baseline'} ({d.old['claims']} claims, {d.old['profile']} profile, "
             f"seed {d.old['seed']})",
             f"new: {d.new['path'] or 'results'} ({d.new['claims']} claims, {d.new['profile']} profile, "
             f"seed {d.new['seed']})"]
    lines += [f"note: {n}" for n in d.notes]
    for kind, title in ((WORSE, "worse"), (BETTER, "better"), (CHANGED, "changed")):
        items = d.of(kind)
        if not items:
            continue
        lines.append(f"{title} ({len(items)}):")
        for c in items:
            lines.append(f"  {c.claim + ': ' if c.claim else ''}{c.text}")
    if d.added:
        lines.append("claims added: " + ", ".join(d.added))
    if d.removed:
        lines.append("claims removed: " + ", ".join(d.removed))
    lines.append(f"{len(d.of(WORSE))} worse, {len(d.of(BETTER))} better, {len(d.of(CHANGED))} changed; "
                 f"{d.unchanged} claim(s) unchanged" + (" — something got worse" if d.worse else ""))
    return "\n".join(lines)


__all__ = ["compare", "compare_claim", "render_text", "Diff", "Change", "WORSE", "BETTER", "CHANGED"]
