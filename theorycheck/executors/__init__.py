"""Where claims run.  ``local`` (the default): one isolated worker process per
claim, started from a server that preloads torch, sympy and cvxpy;
``inline``: in this process, without isolation (debugging, and measuring
what isolation costs); ``ray``: claims and chunks of draws on a Ray cluster.

Every executor returns the same records: a claim's record depends only on
(claim, profile, seed, device, dtype)."""
from __future__ import annotations

EXECUTORS = ("local", "inline", "ray")


def get_executor(name: str, options, **kw):
    if name == "local":
        from .local import LocalExecutor
        return LocalExecutor(options, **kw)
    if name == "inline":
        from .inline import InlineExecutor
        return InlineExecutor(options, **kw)
    if name == "ray":
        from .ray import RayExecutor
        return RayExecutor(options, **kw)
    raise ValueError(f"unknown executor {name!r} (choose from {', '.join(EXECUTORS)})")
