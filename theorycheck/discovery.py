"""Find claim modules in folders and load them, with clear definition errors."""
from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from .claim import Claim, ClaimDefinitionError, validate
from .space import SpaceError


@dataclass
class LoadFailure:
    """A claim module that could not be loaded; reported, never silently dropped."""
    path: str
    error: str
    id: str = ""


def claim_files(paths: list[str | Path]) -> list[Path]:
    """Every claim module under the given files / folders (``_*.py`` and
    ``test_*.py`` are not claims)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise FileNotFoundError(f"no such claim path: {raw}")
        if p.is_file():
            out.append(p)
            continue
        for f in sorted(p.rglob("*.py")):
            if f.name.startswith(("_", "test_")) or any(part.startswith(".") for part in f.parts):
                continue
            out.append(f)
    return sorted(dict.fromkeys(out))


def _family_package(folder: Path) -> str:
    """A package standing for a claim's folder, so that a claim module can
    import its siblings' shared helpers (``from ._common import data``, or
    ``from . import _common``) however the folder is named."""
    name = "theorycheck_claims_" + hashlib.sha1(str(folder).encode()).hexdigest()[:12]
    if name not in sys.modules:
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(folder)]
        pkg.__package__ = name
        pkg.__file__ = None
        sys.modules[name] = pkg
    return name


def load_claim(path: str | Path) -> Claim:
    """Import one claim module and validate its ``claim``."""
    path = Path(path).resolve()
    where = str(path)
    name = f"{_family_package(path.parent)}.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ClaimDefinitionError(where, "module", "not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except ClaimDefinitionError:
        raise
    except SpaceError as exc:  # raised while the module builds its AssumptionSpace
        sys.modules.pop(name, None)
        raise ClaimDefinitionError(where, "assumptions", str(exc)) from None
    except Exception as exc:  # the module itself is broken
        sys.modules.pop(name, None)
        raise ClaimDefinitionError(where, "module", f"import failed: {type(exc).__name__}: {exc}") from exc
    except SystemExit as exc:  # sys.exit() at import: a load error, never the end of the run
        sys.modules.pop(name, None)
        raise ClaimDefinitionError(where, "module", f"import called sys.exit({exc.code!r})") from None
    except KeyboardInterrupt:
        sys.modules.pop(name, None)
        raise ClaimDefinitionError(where, "module", "import raised KeyboardInterrupt") from None
    if not hasattr(module, "claim"):
        raise ClaimDefinitionError(where, "claim", "the module defines no 'claim = Claim(...)'")
    claim = validate(module.claim, where)
    claim.module_path = where
    return claim


def discover(paths: list[str | Path], only: str | None = None) -> tuple[list[Claim], list[LoadFailure]]:
    """Load all claims under ``paths``; ``only`` is a glob on the claim id."""
    claims: list[Claim] = []
    failures: list[LoadFailure] = []
    for f in claim_files(paths):
        try:
            c = load_claim(f)
        except ClaimDefinitionError as exc:
            failures.append(LoadFailure(str(f), str(exc)))
            continue
        if not _matches(c.id, only):
            continue
        claims.append(c)
    seen: dict[str, str] = {}
    for c in claims:
        if c.id in seen:
            message = f"{c.module_path}: field 'id': {c.id!r} also defined in {seen[c.id]}"
            failures.append(LoadFailure(c.module_path, message, c.id))
        seen[c.id] = c.module_path
    dup = {f.id for f in failures if f.id}
    claims = [c for c in claims if c.id not in dup]
    return sorted(claims, key=lambda c: c.id), failures


def _matches(claim_id: str, only: str | None) -> bool:
    return not only or fnmatch.fnmatch(claim_id, only) or only in claim_id


def discover_isolated(paths: list[str | Path], only: str | None = None) -> tuple[list[dict], list[LoadFailure]]:
    """Like :func:`discover`, but every module is imported in a worker process:
    a module that exits, crashes or changes global state at import cannot
    touch this process.  Returns each claim's plain description (``meta``
    plus ``path``) and the load failures."""
    from .executors.local import discover_files

    metas: list[dict] = []
    failures: list[LoadFailure] = []
    for path, (kind, payload) in discover_files([str(f) for f in claim_files(paths)]):
        if kind == "claim":
            if _matches(payload["id"], only):
                metas.append(payload)
        else:
            failures.append(LoadFailure(str(path), payload))
    seen: dict[str, str] = {}
    dup = set()
    for m in sorted(metas, key=lambda m: m["path"]):
        if m["id"] in seen:
            failures.append(LoadFailure(m["path"], f"{m['path']}: field 'id': {m['id']!r} also defined in "
                                                   f"{seen[m['id']]}", m["id"]))
            dup.add(m["id"])
        seen.setdefault(m["id"], m["path"])
    return sorted([m for m in metas if m["id"] not in dup], key=lambda m: m["id"]), failures
