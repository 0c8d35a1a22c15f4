"""Exact side of a claim: sympy and cvxpy helpers."""
