"""Imported once by the worker server (multiprocessing's forkserver), so every
claim's worker starts with torch, sympy, cvxpy and the framework loaded."""
import signal

# Ctrl-C belongs to the parent, which stops the workers; the server must not
# print a traceback when it arrives while these imports are still running.
signal.signal(signal.SIGINT, signal.SIG_IGN)
import hypothesis  # noqa: E402, F401
import numpy  # noqa: E402, F401
import scipy.stats.qmc  # noqa: E402, F401
import sympy  # noqa: E402, F401
import torch  # noqa: E402, F401

try:
    import cvxpy  # noqa: F401
except Exception:  # a broken cvxpy install surfaces in the claims that need it
    pass

from . import evaluate, record, runner  # noqa: F401,E402
from .phases import breaks, mutants, regimes, resolution, search, shrink, sweep  # noqa: F401,E402
