"""Performance of an equity curve: return/risk metrics and Sharpe statistics (PSR/DSR).

One home for every performance figure, so each is computed in exactly one place:

* ``bar_returns`` and ``bars_per_year`` turn an equity curve into per-bar returns
  and the annualisation factor;
* ``performance_metrics`` gives the simulation's summary (return, CAGR,
  volatility, Sharpe, Sortino, drawdown, trade statistics);
* ``per_bar_sharpe`` is the one Sharpe ratio computation. ``performance_metrics``
  annualises it, ``sharpe_statistics`` puts a PSR and DSR beside it. It refuses
  constant returns (see its docstring) instead of dividing by a rounding error.

Sharpe statistics
-----------------

A back-tested Sharpe ratio is an estimate. Its error depends on how many
returns it was measured over and how far the returns are from normal. When it
is also the best of many strategy variants tried, the choice adds more upward
bias. The two statistics here turn a Sharpe ratio into a probability that takes
account of both problems:

* Probabilistic Sharpe Ratio (PSR) -- D. H. Bailey and M. López de Prado,
  "The Sharpe Ratio Efficient Frontier", Journal of Risk 15(2), 2012::

      PSR(SR*) = Φ( (SR − SR*) · √(n − 1) / √(1 − γ3·SR + (γ4 − 1)/4 · SR²) )

  This is the probability that the true Sharpe ratio is above the benchmark
  SR*, given the estimate SR measured over n returns with skewness γ3 and
  Pearson kurtosis γ4 (3 for a normal distribution, not the excess kurtosis).
  A negative skew or fat tails widen the standard error of SR and lower the PSR.

* Deflated Sharpe Ratio (DSR) -- D. H. Bailey and M. López de Prado,
  "The Deflated Sharpe Ratio: Correcting for Selection Bias, Backtest
  Overfitting and Non-Normality", Journal of Portfolio Management 40(5), 2014::

      SR0 = √V · ( (1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)) )
      DSR = PSR(SR0)

  SR0 is the expected largest Sharpe ratio among N independent trials whose
  true Sharpe is zero and whose estimated Sharpes have variance V. γ is the
  Euler–Mascheroni constant and e is Euler's number. The DSR is the PSR
  against that level: it asks whether the selected strategy beats the best
  result that luck alone would give over N tries.

The Sharpe ratios of these statistics are per bar (not annualised; only
``performance_metrics["sharpe"]`` and ``sharpe_annual`` are annualised) and assume
a zero risk-free rate. SR, SR*, SR0 and V must all use the same bar frequency. To
convert an annualised Sharpe, divide it by √(periods per year) and divide an
annualised variance by the number of periods per year. Φ and Φ⁻¹ come from
``statistics.NormalDist``, so the module needs only numpy and the standard
library.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = [
    "EULER_MASCHERONI",
    "bar_returns",
    "bars_per_year",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "per_bar_sharpe",
    "performance_metrics",
    "probabilistic_sharpe_ratio",
    "sharpe_statistics",
]

_DAYS_PER_YEAR = 365.25
_US_PER_DAY = 86_400 * 10**6
_MAX_LOG_GROWTH = 700.0  # exp(700) ~ 1e304: keeps cagr a finite float

EULER_MASCHERONI = 0.5772156649015329
"""Euler–Mascheroni constant γ, used in the expected-maximum approximation."""

_NORMAL = NormalDist()


def _check_finite(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise ValueError if it is NaN or infinite."""
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {name}={value!r}")
    return x


def _check_int(name: str, value: int, minimum: int) -> int:
    """Return ``value`` as an int that is at least ``minimum``.

    Raises TypeError if the value is not an integer (bool is rejected too) and
    ValueError if it is below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {name}={value!r}")
    k = int(value)
    if k < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {name}={k}")
    return k


def _psr_variance_term(sr: float, skewness: float, kurtosis: float) -> float:
    """Return 1 − γ3·SR + (γ4 − 1)/4 · SR², which is (n − 1)·Var(SR).

    This is the asymptotic variance of the Sharpe estimate for non-normal
    returns, scaled by n − 1 (Bailey & López de Prado 2012).
    """
    return 1.0 - skewness * sr + (kurtosis - 1.0) / 4.0 * sr * sr


def probabilistic_sharpe_ratio(
    sr: float, sr_benchmark: float, n: int, skewness: float, kurtosis: float
) -> float:
    """Probability that the true Sharpe ratio is above a benchmark (PSR).

    The estimated Sharpe ratio has a standard error. That error grows with
    negative skew and fat tails and shrinks as the track record gets longer.
    The PSR uses the standard error to turn the gap between the estimate and
    a benchmark into a probability, so the result can be compared across
    strategies with different sample sizes and return distributions
    (Bailey & López de Prado 2012).

    Parameters
    ----------
    sr : float
        Estimated Sharpe ratio per bar (mean / std of the bar returns; not
        annualised).
    sr_benchmark : float
        Benchmark Sharpe ratio SR*, per bar. Use 0 to test for a positive
        Sharpe, or the expected maximum Sharpe to get the DSR.
    n : int
        Number of returns used to estimate ``sr``. Must be at least 2.
    skewness : float
        Skewness γ3 of the returns (population moment).
    kurtosis : float
        Pearson kurtosis γ4 of the returns (population moment). It is 3 for a
        normal distribution: this is not the excess kurtosis.

    Returns
    -------
    float
        Φ((sr − sr_benchmark)·√(n − 1) / √(1 − γ3·sr + (γ4 − 1)/4·sr²)), a
        value in [0, 1].

    Raises
    ------
    ValueError
        If n < 2, if an argument is NaN or infinite, or if the variance term
        1 − γ3·sr + (γ4 − 1)/4·sr² is not positive. A real sample's moments
        always give a term >= 0, so a value <= 0 means the inputs are not
        consistent with each other.
    TypeError
        If n is not an integer.
    """
    sr = _check_finite("sr", sr)
    sr_benchmark = _check_finite("sr_benchmark", sr_benchmark)
    skewness = _check_finite("skewness", skewness)
    kurtosis = _check_finite("kurtosis", kurtosis)
    n = _check_int("n", n, 2)
    term = _psr_variance_term(sr, skewness, kurtosis)
    if not term > 0.0:
        raise ValueError(
            "the PSR variance term 1 - skewness*sr + (kurtosis - 1)/4*sr**2 "
            "must be > 0, "
            f"got {term!r} for sr={sr!r}, skewness={skewness!r}, kurtosis={kurtosis!r}"
        )
    z = (sr - sr_benchmark) * math.sqrt(n - 1) / math.sqrt(term)
    return _NORMAL.cdf(z)


def expected_max_sharpe(sr_variance: float, n_trials: int) -> float:
    """Expected largest estimated Sharpe ratio among N trials that have no skill (SR0).

    If N independent strategy variants have a true Sharpe of zero and their
    estimated Sharpes have variance V, the best estimate is still expected to
    be above zero. Its expected value is about
    √V·((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e))) (Bailey & López de Prado
    2014). A Sharpe ratio chosen as the best of N trials has to beat this level
    before it shows any evidence of skill.

    Parameters
    ----------
    sr_variance : float
        Variance V of the trials' estimated Sharpe ratios, in the same units as
        the Sharpe being deflated (per bar here). Must be >= 0.
    n_trials : int
        Number N of independent trials. Must be at least 1.

    Returns
    -------
    float
        SR0, which is >= 0. It is exactly 0.0 for a single trial, because
        nothing was selected and there is nothing to deflate.

    Raises
    ------
    ValueError
        If sr_variance is negative, NaN or infinite, or if n_trials < 1.
    TypeError
        If n_trials is not an integer.
    """
    v = _check_finite("sr_variance", sr_variance)
    if v < 0.0:
        raise ValueError(f"sr_variance must be >= 0, got sr_variance={sr_variance!r}")
    big_n = _check_int("n_trials", n_trials, 1)
    if big_n == 1:
        return 0.0
    # Φ⁻¹(1 − p) = −Φ⁻¹(p). The right-hand form stays accurate when 1/N is so
    # small that 1 − 1/N would round to exactly 1.0.
    q1 = -_NORMAL.inv_cdf(1.0 / big_n)
    q2 = -_NORMAL.inv_cdf(1.0 / (big_n * math.e))
    g = EULER_MASCHERONI
    return math.sqrt(v) * ((1.0 - g) * q1 + g * q2)


def deflated_sharpe_ratio(
    sr: float,
    n: int,
    skewness: float,
    kurtosis: float,
    sr_variance: float,
    n_trials: int,
) -> float:
    """Probability that the best of N trials' Sharpe ratios shows real skill (DSR).

    This is the PSR with the benchmark set to ``expected_max_sharpe``. The
    result allows for both the sample size and non-normal returns, and for the
    selection bias from trying many variants (Bailey & López de Prado 2014).

    Parameters
    ----------
    sr : float
        Estimated per-bar Sharpe ratio of the selected strategy.
    n : int
        Number of returns behind ``sr``. Must be at least 2.
    skewness : float
        Skewness of the selected strategy's returns (population moment).
    kurtosis : float
        Pearson kurtosis of the selected strategy's returns (normal = 3).
    sr_variance : float
        Variance of the per-bar Sharpe ratios of all trials. Must be >= 0.
    n_trials : int
        Number of independent trials. Must be at least 1. With one trial the
        DSR equals the PSR against 0.

    Returns
    -------
    float
        PSR(expected_max_sharpe(sr_variance, n_trials)), a value in [0, 1].

    Raises
    ------
    ValueError
        On the same inputs as ``probabilistic_sharpe_ratio`` and
        ``expected_max_sharpe``.
    TypeError
        If n or n_trials is not an integer.
    """
    sr0 = expected_max_sharpe(sr_variance, n_trials)
    return probabilistic_sharpe_ratio(sr, sr0, n, skewness, kurtosis)


def _finite_or_none(x: float | None) -> float | None:
    """Return ``x`` as a plain float, or None when it is None, NaN or infinite."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def per_bar_sharpe(returns: np.ndarray) -> float | None:
    """mean / std (ddof=1) of per-bar returns, with a zero risk-free rate.

    None when it is undefined: fewer than 2 returns, or all returns equal (a
    strategy that never traded). Equality is tested on the raw values, not on
    std == 0: the mean of identical floats can differ from them by one ulp,
    which would give a tiny nonzero std and a huge, meaningless Sharpe.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2 or np.all(r == r[0]):
        return None
    with np.errstate(all="ignore"):
        return _finite_or_none(np.mean(r) / np.std(r, ddof=1))


def sharpe_statistics(
    returns: np.ndarray,
    trial_sharpes: Sequence[float],
    n_trials: int | None = None,
    periods_per_year: float = 0.0,
) -> dict[str, Any]:
    """JSON-safe summary of a strategy's Sharpe ratio with its PSR and DSR.

    This is the summary that the run directory and the HTML report show. It
    is always a dict with the same keys. It never contains NaN or infinity,
    so ``json.dumps(result, allow_nan=False)`` accepts it. A statistic that
    cannot be computed is None, and ``note`` explains why.

    Parameters
    ----------
    returns : numpy.ndarray
        The strategy's simple return for each bar, as a 1-D array. Every value
        must be finite.
    trial_sharpes : Sequence[float]
        Per-bar Sharpe ratio of every strategy variant tried, including the
        strategy itself. Their sample variance (ddof=1) is V in the DSR.
        With fewer than 2 values, V is taken as 0.0 and the DSR is not
        deflated. ``note`` says so when ``n_trials`` > 1.
    n_trials : int or None, optional
        Number N of independent trials. It defaults to ``len(trial_sharpes)``.
        Pass it explicitly when more variants were tried than have a Sharpe
        in ``trial_sharpes``, for example a variant that never traded. It must
        be >= 1 and >= ``len(trial_sharpes)``.
    periods_per_year : float, optional
        Bars per year, used only for ``sharpe_annual``. 0 (the default) leaves
        ``sharpe_annual`` as None. Must be >= 0.

    Returns
    -------
    dict
        n_returns : int
            Number of returns.
        sharpe_per_bar : float or None
            mean / std (ddof=1) of the returns, with a zero risk-free rate.
        sharpe_annual : float or None
            sharpe_per_bar · √periods_per_year. None when periods_per_year is 0.
        skewness : float or None
            Population skewness m3 / m2^1.5, the moment used in the paper.
        kurtosis : float or None
            Population Pearson kurtosis m4 / m2² (normal = 3).
        psr : float or None
            PSR against a benchmark Sharpe of 0.
        n_trials : int
            N used for the DSR.
        sr_variance : float
            V, the variance of ``trial_sharpes`` (0.0 with fewer than 2).
        sr0_per_bar : float or None
            Expected maximum per-bar Sharpe of N trials with no skill.
        dsr : float or None
            PSR against ``sr0_per_bar``.
        note : str or None
            One plain sentence per problem, explaining any None statistic and
            warning when the DSR could not be deflated. None when there is
            nothing to report.

    Raises
    ------
    ValueError
        If ``returns`` is not 1-D or has a NaN or infinite value, if a trial
        Sharpe is NaN or infinite, if ``trial_sharpes`` is not 1-D, if
        ``n_trials`` is < 1 or < len(trial_sharpes), or if
        ``periods_per_year`` is negative or not finite.
    TypeError
        If ``n_trials`` is not an integer.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"returns must be 1-D, got returns with shape {r.shape}")
    if not np.all(np.isfinite(r)):
        bad = int(np.count_nonzero(~np.isfinite(r)))
        raise ValueError(
            f"returns must be finite, got {bad} NaN or infinite value(s) in returns"
        )

    trials = np.asarray(trial_sharpes, dtype=np.float64)
    if trials.ndim != 1:
        raise ValueError(
            "trial_sharpes must be a 1-D sequence, "
            f"got trial_sharpes with shape {trials.shape}"
        )
    if not np.all(np.isfinite(trials)):
        raise ValueError(
            f"trial_sharpes must be finite, got trial_sharpes={trials.tolist()!r}"
        )
    n_trials = len(trials) if n_trials is None else _check_int("n_trials", n_trials, 1)
    if n_trials < max(1, len(trials)):
        raise ValueError(
            f"n_trials must be >= 1 and >= len(trial_sharpes)={len(trials)}, "
            f"got n_trials={n_trials}"
        )
    ppy = _check_finite("periods_per_year", periods_per_year)
    if ppy < 0.0:
        raise ValueError(
            f"periods_per_year must be >= 0, got periods_per_year={periods_per_year!r}"
        )

    notes: list[str] = []
    sr_variance = float(np.var(trials, ddof=1)) if len(trials) >= 2 else 0.0
    if len(trials) < 2 and n_trials > 1:
        notes.append(
            f"Fewer than 2 trial Sharpe ratios were given for {n_trials} trials, "
            "so their variance is taken as 0 and the DSR is not deflated "
            "for selection."
        )
    sr0 = _finite_or_none(expected_max_sharpe(sr_variance, n_trials))

    n_ret = int(r.size)
    sharpe = sharpe_annual = skewness = kurtosis = psr = dsr = None
    if n_ret < 2:
        notes.insert(
            0,
            f"The Sharpe ratio is undefined with {n_ret} return(s): "
            "at least 2 are needed.",
        )
    elif np.all(r == r[0]):  # see per_bar_sharpe
        notes.insert(
            0,
            "The strategy's returns are constant (no trades), "
            "so the Sharpe ratio is undefined.",
        )
    else:
        # numpy scalars, not Python floats: on absurd inputs (a spread that
        # underflows, values that overflow when raised to the 4th power) they
        # give inf/NaN, which is mapped to None below, instead of raising.
        with np.errstate(all="ignore"):
            mean = np.mean(r)
            dev = r - mean
            m2 = np.mean(dev**2)
            m3 = np.mean(dev**3)
            m4 = np.mean(dev**4)
            sharpe = per_bar_sharpe(r)
            skewness = _finite_or_none(m3 / m2**1.5)
            kurtosis = _finite_or_none(m4 / m2**2)
        if sharpe is None or skewness is None or kurtosis is None:
            sharpe = skewness = kurtosis = None
            notes.insert(
                0,
                "The returns are too small in spread or too large in size to compute "
                "the Sharpe ratio and moments in floating point.",
            )
        else:
            if ppy > 0.0:
                sharpe_annual = _finite_or_none(sharpe * math.sqrt(ppy))
            if _psr_variance_term(sharpe, skewness, kurtosis) > 0.0:
                psr = probabilistic_sharpe_ratio(sharpe, 0.0, n_ret, skewness, kurtosis)
                if sr0 is not None:
                    dsr = probabilistic_sharpe_ratio(
                        sharpe, sr0, n_ret, skewness, kurtosis
                    )
            else:
                notes.append(
                    "The PSR and DSR are undefined because the Sharpe ratio's "
                    "variance term 1 - skewness*SR + (kurtosis - 1)/4*SR^2 "
                    "is not positive for these returns."
                )

    return {
        "n_returns": n_ret,
        "sharpe_per_bar": sharpe,
        "sharpe_annual": sharpe_annual,
        "skewness": skewness,
        "kurtosis": kurtosis,
        "psr": psr,
        "n_trials": int(n_trials),
        "sr_variance": sr_variance,
        "sr0_per_bar": sr0,
        "dsr": dsr,
        "note": " ".join(notes) if notes else None,
    }


# --------------------------------------------------------------------------- equity curves


def bar_returns(equity: np.ndarray, initial_capital: float) -> np.ndarray:
    """Simple return of each bar, the first one from ``initial_capital`` (0 where equity was <= 0)."""
    eq = np.asarray(equity, dtype=np.float64)
    path = np.concatenate([[float(initial_capital)], eq])
    prev, cur = path[:-1], path[1:]
    rets = np.zeros(len(eq), dtype=np.float64)
    ok = prev > 0
    rets[ok] = cur[ok] / prev[ok] - 1.0
    return rets


def _years(ts: np.ndarray) -> float:
    """Calendar years spanned by datetime64[us] timestamps (0 for fewer than 2)."""
    if len(ts) < 2:
        return 0.0
    return float((ts[-1] - ts[0]).astype(np.int64)) / _US_PER_DAY / _DAYS_PER_YEAR


def bars_per_year(timestamps: np.ndarray) -> float:
    """Bars per calendar year of a series (0 when it spans no time): the annualisation factor."""
    ts = np.asarray(timestamps).astype("datetime64[us]")
    years = _years(ts)
    return len(ts) / years if years > 0 else 0.0


def performance_metrics(
    equity: np.ndarray,
    timestamps: np.ndarray,
    trades: list[dict[str, Any]],
    position: np.ndarray,
    costs_paid: float,
    initial_capital: float,
) -> dict[str, float | int | None]:
    """Return, risk and trade statistics of an equity curve; JSON-safe, never NaN.

    Bar returns run from ``initial_capital`` to equity[0], then bar to bar, so
    a first-bar move (buy-and-hold buys at the first open) is counted; the
    drawdown path likewise starts at ``initial_capital``. Annualisation uses
    calendar time: years = (last - first timestamp) / 365.25 days and
    bars per year = n_bars / years (0 when the span is zero, giving 0 for the
    annualised figures). Volatility is the sample std (ddof=1) of the bar
    returns; the Sortino downside deviation is sqrt(mean(min(r, 0)**2)) over
    all bars. The Sharpe ratio is ``per_bar_sharpe`` times sqrt(bars per year),
    and 0.0 where ``per_bar_sharpe`` is undefined (fewer than 2 bars, or every
    bar return equal, e.g. a strategy that never traded).

    Returns
    -------
    dict
        total_return, cagr, annual_volatility, sharpe, sortino (risk-free 0),
        max_drawdown (<= 0), calmar, n_trades, win_rate, profit_factor (gross
        profit / gross loss; None when there is profit and no loss, 0.0 with no
        trades or no profit), exposure, costs_paid, final_equity.
    """
    eq = np.asarray(equity, dtype=np.float64)
    ts = np.asarray(timestamps).astype("datetime64[us]")
    n = len(eq)
    initial = float(initial_capital)
    final = float(eq[-1]) if n else initial
    path = np.concatenate([[initial], eq])
    rets = bar_returns(eq, initial)
    years = _years(ts)
    per_year = bars_per_year(ts)

    total_return = final / initial - 1.0
    if years > 0:
        # in log space, capped so that a huge gain over a short span stays a finite float
        growth = math.log(final / initial) / years if final > 0 else -math.inf
        cagr = math.expm1(min(growth, _MAX_LOG_GROWTH)) if final > 0 else -1.0
    else:
        cagr = 0.0
    std = float(np.std(rets, ddof=1)) if n > 1 else 0.0
    mean = float(np.mean(rets)) if n else 0.0
    downside = float(np.sqrt(np.mean(np.minimum(rets, 0.0) ** 2))) if n else 0.0
    root = float(np.sqrt(per_year))
    sr = per_bar_sharpe(rets)
    sharpe = sr * root if sr is not None else 0.0
    sortino = mean / downside * root if downside > 0 else 0.0

    peak = np.maximum.accumulate(path)
    max_dd = float(np.min(path / peak - 1.0))
    max_dd = min(max_dd, 0.0) + 0.0  # no -0.0
    calmar = cagr / abs(max_dd) if max_dd < 0 else 0.0

    pnls = np.array([float(t["pnl"]) for t in trades], dtype=np.float64)
    gross_profit = float(pnls[pnls > 0].sum())
    gross_loss = float(-pnls[pnls < 0].sum())
    profit_factor: float | None
    if gross_loss > 0:
        profit_factor = gross_profit / gross_loss
    elif gross_profit > 0:
        profit_factor = None
    else:
        profit_factor = 0.0
    pos = np.asarray(position)

    return {
        "total_return": float(total_return),
        "cagr": float(cagr),
        "annual_volatility": float(std * root),
        "sharpe": float(sharpe),
        "sortino": float(sortino),
        "max_drawdown": max_dd,
        "calmar": float(calmar),
        "n_trades": len(trades),
        "win_rate": float(np.mean(pnls > 0)) if len(pnls) else 0.0,
        "profit_factor": profit_factor,
        "exposure": float(np.mean(pos != 0)) if len(pos) else 0.0,
        "costs_paid": float(costs_paid),
        "final_equity": final,
    }
