"""Small statistics shared by the benchmarks and the training scripts: error rates with exact intervals."""

from __future__ import annotations


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> list[float]:
    """Exact (Clopper-Pearson) two-sided ``1 - alpha`` interval of the proportion ``k / n``."""
    from scipy.stats import beta

    if n == 0:
        return [float("nan"), float("nan")]
    lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return [lo, hi]


def rate(k: int, n: int) -> dict:
    """``{"value", "errors" (or successes: k), "n", "ci95"}`` of the proportion ``k / n``."""
    return {"value": k / n if n else float("nan"), "errors": int(k), "n": int(n), "ci95": clopper_pearson(k, n)}
