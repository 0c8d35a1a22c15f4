"""Claims and chunks of draws on a Ray cluster (``--executor ray``)."""
from __future__ import annotations

INSTALL = 'the ray executor needs Ray: pip install -e ".[ray]"'


def check_available() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise RuntimeError(INSTALL) from None


class RayExecutor:
    name = "ray"

    def __init__(self, options, address=None, jobs=None):
        check_available()
        raise RuntimeError("the ray executor is not available in this build yet")
