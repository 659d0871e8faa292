"""Tests of evaluation.performance: the equity-curve metrics on a hand-computed path,
PSR and DSR on a hand-computed series and the DSR paper's numerical example,
properties, edge cases, and that the simulation's Sharpe is ``per_bar_sharpe``.

The reference values are worked out in the tests themselves with plain arithmetic
and ``statistics.NormalDist``. None of them calls the module's helpers.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from statistics import NormalDist

import numpy as np
import pytest

from signalpack.evaluation.performance import (
    EULER_MASCHERONI,
    bar_returns,
    bars_per_year,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    per_bar_sharpe,
    performance_metrics,
    probabilistic_sharpe_ratio,
    sharpe_statistics,
)
from tests.evaluation.sim_paths import days

PHI = NormalDist().cdf
KEYS = {
    "n_returns",
    "sharpe_per_bar",
    "sharpe_annual",
    "skewness",
    "kurtosis",
    "psr",
    "n_trials",
    "sr_variance",
    "sr0_per_bar",
    "dsr",
    "note",
}


# --- 1. a hand-computed example ---------------------------------------------------

# Eight daily returns. In units of u = 1/800 (0.125 %) they are
# 8, 16, -40, 24, 8, 0, 16, -8. Their sum is 24 u, so the mean is 3 u = 0.00375,
# and the deviations from the mean are 5, 13, -43, 21, 5, -3, 13, -11 (in u).
RETURNS = [0.01, 0.02, -0.05, 0.03, 0.01, 0.00, 0.02, -0.01]
DEV_U = [5, 13, -43, 21, 5, -3, 13, -11]
# Power sums of the deviations, in powers of u:
#   S2 = 25 + 169 + 1849 + 441 + 25 + 9 + 169 + 121              = 2808
#   S3 = 125 + 2197 - 79507 + 9261 + 125 - 27 + 2197 - 1331      = -66960
#   S4 = 625 + 28561 + 3418801 + 194481 + 625 + 81 + 28561 + 14641 = 3686376
S2, S3, S4 = 2808, -66960, 3686376


def _hand_values() -> dict[str, float]:
    """Sharpe, moments and PSR(0) of RETURNS, worked out from the sums above."""
    n = 8
    mean = 3 / 800  # 0.00375
    # Sample std (ddof = 1): sqrt(2808/7) u ~ 0.025036.
    std = math.sqrt(S2 / (n - 1)) / 800
    sr = mean / std  # = 3 / sqrt(2808/7) ~ 0.149786
    # Population moments: the powers of u cancel in the two ratios.
    m2 = S2 / n  # 351
    m3 = S3 / n  # -8370
    m4 = S4 / n  # 460797
    skew = m3 / m2**1.5  # -8370 / 351^1.5 ~ -1.272814
    kurt = m4 / m2**2  # 460797 / 123201 ~ 3.740205
    z = sr * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    return {
        "mean": mean,
        "std": std,
        "sr": sr,
        "skew": skew,
        "kurt": kurt,
        "psr": PHI(z),
    }


def test_hand_sums_are_right() -> None:
    """Check the written-out power sums against the deviations, so a typo shows."""
    assert [round(x * 800) for x in RETURNS] == [8, 16, -40, 24, 8, 0, 16, -8]
    assert [x - 3 for x in (8, 16, -40, 24, 8, 0, 16, -8)] == DEV_U
    assert sum(d**2 for d in DEV_U) == S2
    assert sum(d**3 for d in DEV_U) == S3
    assert sum(d**4 for d in DEV_U) == S4


def test_psr_matches_hand_computation() -> None:
    h = _hand_values()
    assert h["sr"] == pytest.approx(0.1497861723788195, abs=1e-12)
    assert h["skew"] == pytest.approx(-1.2728135302455645, abs=1e-12)
    assert h["kurt"] == pytest.approx(460797 / 123201, abs=1e-12)

    psr = probabilistic_sharpe_ratio(h["sr"], 0.0, 8, h["skew"], h["kurt"])
    assert psr == pytest.approx(h["psr"], abs=1e-12)
    assert 0.5 < psr < 1.0  # a positive Sharpe over only 8 bars: far from certain


def test_sharpe_statistics_matches_hand_computation() -> None:
    h = _hand_values()
    out = sharpe_statistics(
        np.array(RETURNS), trial_sharpes=[h["sr"]], periods_per_year=252
    )
    assert set(out) == KEYS
    assert out["n_returns"] == 8
    assert out["sharpe_per_bar"] == pytest.approx(h["sr"], abs=1e-12)
    assert out["sharpe_annual"] == pytest.approx(h["sr"] * math.sqrt(252), abs=1e-12)
    assert out["skewness"] == pytest.approx(h["skew"], abs=1e-12)
    assert out["kurtosis"] == pytest.approx(h["kurt"], abs=1e-12)
    assert out["psr"] == pytest.approx(h["psr"], abs=1e-12)
    # With one trial nothing was selected: SR0 = 0, and the DSR is the PSR against 0.
    assert out["n_trials"] == 1
    assert out["sr_variance"] == 0.0
    assert out["sr0_per_bar"] == 0.0
    assert out["dsr"] == pytest.approx(h["psr"], abs=1e-12)
    assert out["note"] is None
    json.dumps(out, allow_nan=False)


def test_sharpe_statistics_deflates_with_trial_variance() -> None:
    h = _hand_values()
    trials = [h["sr"], 0.05, -0.02, 0.10]
    # Sample variance (ddof = 1) of the four trial Sharpes, worked out directly.
    mu = sum(trials) / 4
    v = sum((t - mu) ** 2 for t in trials) / 3
    # SR0 from the paper's formula, with N = 4.
    g = EULER_MASCHERONI
    inv = NormalDist().inv_cdf
    sr0 = math.sqrt(v) * ((1 - g) * inv(1 - 1 / 4) + g * inv(1 - 1 / (4 * math.e)))
    z = (
        (h["sr"] - sr0)
        * math.sqrt(7)
        / math.sqrt(1 - h["skew"] * h["sr"] + (h["kurt"] - 1) / 4 * h["sr"] ** 2)
    )

    out = sharpe_statistics(np.array(RETURNS), trial_sharpes=trials)
    assert out["sharpe_annual"] is None  # periods_per_year defaults to 0
    assert out["n_trials"] == 4
    assert out["sr_variance"] == pytest.approx(v, abs=1e-15)
    assert out["sr0_per_bar"] == pytest.approx(sr0, abs=1e-12)
    assert out["dsr"] == pytest.approx(PHI(z), abs=1e-12)
    assert out["dsr"] < out["psr"]
    assert out["note"] is None


# --- 2. the numerical example of Bailey & López de Prado (2014) ---------------------

# "The Deflated Sharpe Ratio" (JPM 40(5), 2014), section "A Numerical Example": a
# strategy has an annualised SR of 2.5 over T = 1250 daily observations (5 years at
# 250 days/year). It is the best of N = 100 trials whose annualised Sharpes have
# variance 1/2. Its returns have skewness -3 and kurtosis 10. The paper reports
# SR0 ~ 0.1132 (non-annualised, per day) and DSR ~ 0.9004, which is below the
# 0.95 level, so the strategy is rejected.
# We could not read those figures in the paper itself. Several independent public
# implementations quote the same numbers as the paper's, and the derivation below
# reproduces them:
#   SR  = 2.5 / sqrt(250)                                 = 0.158114 per day
#   V   = 0.5 / 250                                       = 0.002, sqrt(V) = 0.044721
#   Phi^-1(1 - 1/100) = 2.326348, Phi^-1(1 - 1/(100 e)) = 2.679..., so
#   SR0 = 0.044721 * (0.422784 * 2.326348 + 0.577216 * 2.679...) = 0.11317
#   z   = (0.158114 - 0.113172) * sqrt(1249) / sqrt(1 + 3*0.158114 + 9/4*0.158114^2)
#       = 0.044942 * 35.341 / 1.23717                     = 1.2838
#   DSR = Phi(1.2838)                                     = 0.9004
PAPER_SR = 2.5 / math.sqrt(250)
PAPER_V = 0.5 / 250


def test_paper_expected_max_sharpe() -> None:
    assert expected_max_sharpe(PAPER_V, 100) == pytest.approx(0.1132, abs=1e-3)
    assert expected_max_sharpe(PAPER_V, 100) == pytest.approx(0.113172, abs=1e-6)


def test_paper_deflated_sharpe_ratio() -> None:
    dsr = deflated_sharpe_ratio(PAPER_SR, 1250, -3.0, 10.0, PAPER_V, 100)
    assert dsr == pytest.approx(0.9004, abs=1e-3)
    assert dsr < 0.95  # the paper's conclusion: not significant at 95 %
    # The undeflated PSR(0) of the same strategy is nearly 1: selection bias is
    # what pulls the DSR down here.
    assert probabilistic_sharpe_ratio(PAPER_SR, 0.0, 1250, -3.0, 10.0) > 0.9999


# --- 3. properties ----------------------------------------------------------------


def test_psr_increases_with_track_record_length() -> None:
    psrs = [
        probabilistic_sharpe_ratio(0.05, 0.0, n, -0.5, 5.0)
        for n in (2, 10, 50, 250, 1250)
    ]
    assert all(a < b for a, b in itertools.pairwise(psrs))
    assert psrs[0] > 0.5  # positive SR: better than a coin toss even at n = 2


def test_psr_is_one_half_at_the_benchmark_and_symmetric() -> None:
    assert probabilistic_sharpe_ratio(0.1, 0.1, 100, -1.0, 6.0) == pytest.approx(
        0.5, abs=1e-15
    )
    up = probabilistic_sharpe_ratio(0.1, 0.0, 100, 0.0, 3.0)
    down = probabilistic_sharpe_ratio(-0.1, 0.0, 100, 0.0, 3.0)
    assert up + down == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("n_trials", [2, 3, 10, 100, 10_000])
@pytest.mark.parametrize("sr_variance", [1e-6, 0.002, 0.5])
def test_dsr_is_at_most_psr_against_zero(n_trials: int, sr_variance: float) -> None:
    for sr in (-0.05, 0.0, 0.05, 0.2):
        psr0 = probabilistic_sharpe_ratio(sr, 0.0, 500, -0.3, 4.0)
        dsr = deflated_sharpe_ratio(sr, 500, -0.3, 4.0, sr_variance, n_trials)
        assert dsr <= psr0


def test_dsr_with_one_trial_or_zero_variance_equals_psr() -> None:
    psr0 = probabilistic_sharpe_ratio(0.08, 0.0, 300, 0.2, 3.5)
    assert deflated_sharpe_ratio(0.08, 300, 0.2, 3.5, 0.01, 1) == psr0
    assert deflated_sharpe_ratio(0.08, 300, 0.2, 3.5, 0.0, 50) == psr0


def test_expected_max_sharpe_is_zero_for_one_trial_and_grows_with_n() -> None:
    assert expected_max_sharpe(0.5, 1) == 0.0
    assert expected_max_sharpe(0.0, 1000) == 0.0
    values = [
        expected_max_sharpe(1.0, n) for n in (1, 2, 5, 10, 100, 1000, 10**6, 10**12)
    ]
    assert all(a < b for a, b in itertools.pairwise(values))
    assert all(math.isfinite(v) for v in values)
    # It scales with sqrt(V): 4 times the variance gives twice the level.
    assert expected_max_sharpe(4.0, 100) == pytest.approx(
        2 * expected_max_sharpe(1.0, 100), abs=1e-12
    )


def test_expected_max_sharpe_formula_for_two_trials() -> None:
    # Phi^-1(1 - 1/2) = 0, so only the gamma term is left.
    expected = EULER_MASCHERONI * NormalDist().inv_cdf(1 - 1 / (2 * math.e))
    assert expected_max_sharpe(1.0, 2) == pytest.approx(expected, abs=1e-12)


# --- 4. constant or too-short returns ---------------------------------------------

UNDEFINED = ("sharpe_per_bar", "sharpe_annual", "skewness", "kurtosis", "psr", "dsr")


def test_constant_returns_give_none_with_a_note() -> None:
    out = sharpe_statistics(
        np.zeros(250), trial_sharpes=[0.0, 0.03, -0.01], periods_per_year=252
    )
    assert set(out) == KEYS
    assert out["n_returns"] == 250
    for key in UNDEFINED:
        assert out[key] is None, key
    assert isinstance(out["note"], str) and "constant" in out["note"]
    # SR0 depends only on the trials, so it is still defined.
    assert out["n_trials"] == 3
    assert out["sr0_per_bar"] is not None and out["sr0_per_bar"] > 0
    json.dumps(out, allow_nan=False)


def test_constant_nonzero_returns_are_detected_despite_rounding() -> None:
    # The mean of identical 0.1s can be one ulp away from 0.1, so the std would be
    # about 1e-17 instead of 0. The module must still report "constant".
    out = sharpe_statistics(np.full(7, 0.1), trial_sharpes=[0.0])
    for key in UNDEFINED:
        assert out[key] is None, key
    assert "constant" in out["note"]
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize("returns", [[], [0.01]])
def test_too_few_returns_give_none_with_a_note(returns: list[float]) -> None:
    out = sharpe_statistics(
        np.array(returns), trial_sharpes=[0.1, 0.2], periods_per_year=252
    )
    assert set(out) == KEYS
    assert out["n_returns"] == len(returns)
    for key in UNDEFINED:
        assert out[key] is None, key
    assert "undefined" in out["note"]
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize(
    "returns",
    [
        [1e200, -1e200, 3e200],  # 4th powers overflow to inf
        [1e-200, 2e-200, 3e-200],  # squared deviations underflow to 0
    ],
)
def test_floating_point_extremes_give_none_not_an_error(returns: list[float]) -> None:
    out = sharpe_statistics(np.array(returns), trial_sharpes=[0.1, 0.2])
    assert set(out) == KEYS
    for key in UNDEFINED:
        assert out[key] is None, key
    assert "floating point" in out["note"]
    json.dumps(out, allow_nan=False)


def test_note_warns_when_the_dsr_cannot_be_deflated() -> None:
    out = sharpe_statistics(np.array(RETURNS), trial_sharpes=[0.15], n_trials=20)
    assert out["n_trials"] == 20
    assert out["sr_variance"] == 0.0
    assert out["sr0_per_bar"] == 0.0
    assert out["dsr"] == out["psr"]
    assert "not deflated" in out["note"]


# --- 5. bad parameters --------------------------------------------------------------


def _raises(exc: type[Exception], *fragments: str) -> pytest.RaisesExc[Exception]:
    """pytest.raises requiring every fragment (e.g. "n=1") in the message."""
    pattern = "".join(f"(?=.*{re.escape(f)})" for f in fragments)
    return pytest.raises(exc, match=pattern)


@pytest.mark.parametrize("n", [1, 0, -5])
def test_psr_rejects_short_track_record(n: int) -> None:
    with _raises(ValueError, f"n={n}"):
        probabilistic_sharpe_ratio(0.1, 0.0, n, 0.0, 3.0)


def test_psr_rejects_non_positive_variance_term() -> None:
    # 1 - 2*1 + (1 - 1)/4*1 = -1
    with _raises(ValueError, "sr=1.0", "skewness=2.0", "kurtosis=1.0", "-1.0"):
        probabilistic_sharpe_ratio(1.0, 0.0, 100, 2.0, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"sr": math.nan}, "sr=nan"),
        ({"sr_benchmark": math.inf}, "sr_benchmark=inf"),
        ({"skewness": math.nan}, "skewness=nan"),
        ({"kurtosis": -math.inf}, "kurtosis=-inf"),
    ],
)
def test_psr_rejects_non_finite_inputs(kwargs: dict[str, float], fragment: str) -> None:
    args = {
        "sr": 0.1,
        "sr_benchmark": 0.0,
        "n": 100,
        "skewness": 0.0,
        "kurtosis": 3.0,
    } | kwargs
    with _raises(ValueError, fragment):
        probabilistic_sharpe_ratio(**args)


@pytest.mark.parametrize("n", [100.0, True, "100"])
def test_psr_rejects_non_integer_n(n: object) -> None:
    with pytest.raises(TypeError, match="n must be an integer"):
        probabilistic_sharpe_ratio(0.1, 0.0, n, 0.0, 3.0)  # type: ignore[arg-type]


def test_expected_max_sharpe_rejects_bad_inputs() -> None:
    with _raises(ValueError, "n_trials=0"):
        expected_max_sharpe(0.5, 0)
    with _raises(ValueError, "n_trials=-3"):
        expected_max_sharpe(0.5, -3)
    with _raises(ValueError, "sr_variance=-0.1"):
        expected_max_sharpe(-0.1, 10)
    with _raises(ValueError, "sr_variance=nan"):
        expected_max_sharpe(math.nan, 10)


def test_dsr_rejects_bad_inputs() -> None:
    with _raises(ValueError, "n=1"):
        deflated_sharpe_ratio(0.1, 1, 0.0, 3.0, 0.01, 10)
    with _raises(ValueError, "n_trials=0"):
        deflated_sharpe_ratio(0.1, 100, 0.0, 3.0, 0.01, 0)


def test_sharpe_statistics_rejects_bad_inputs() -> None:
    good = np.array(RETURNS)
    with _raises(ValueError, "returns", "(2, 4)"):
        sharpe_statistics(good.reshape(2, 4), [0.1])
    with _raises(ValueError, "returns", "1 NaN"):
        sharpe_statistics(np.array([0.01, math.nan, 0.02]), [0.1])
    with _raises(ValueError, "trial_sharpes", "nan"):
        sharpe_statistics(good, [0.1, math.nan])
    with _raises(ValueError, "n_trials=0"):
        sharpe_statistics(good, [])  # no trials at all: N defaults to 0
    with _raises(ValueError, "n_trials=2", "len(trial_sharpes)=3"):
        sharpe_statistics(good, [0.1, 0.2, 0.3], n_trials=2)
    with _raises(ValueError, "periods_per_year=-252"):
        sharpe_statistics(good, [0.1], periods_per_year=-252)


# --------------------------------------------------------------------------- equity-curve metrics


def test_metrics_on_known_equity_path():
    # Initial 100, equity at closes 110, 120, 90, 100, 130.
    # Path with the start: 100 110 120 90 100 130; running peak 100 110 120 120 120 130
    # -> max drawdown 90/120 - 1 = -0.25.
    # Timestamps 4383 h (182.625 days) apart: span 730.5 days = 2.0 years, 5 bars -> 2.5 bars/yr.
    # cagr = 1.3 ** 0.5 - 1 = 0.140175...; calmar = cagr / 0.25.
    # pnls 10, -5, 20, -5, 0: win rate 2/5, profit factor 30 / 10 = 3.
    # position 0 1 1 0 -1: exposure 3/5.
    ts = np.datetime64("2020-01-01T00", "h") + np.arange(5) * np.timedelta64(4383, "h")
    eq = np.array([110, 120, 90, 100, 130], dtype=float)
    trades = [{"pnl": p} for p in (10.0, -5.0, 20.0, -5.0, 0.0)]
    m = performance_metrics(eq, ts, trades, np.array([0, 1, 1, 0, -1]), 1.5, 100.0)
    assert m["total_return"] == pytest.approx(0.3, rel=1e-12)
    assert m["max_drawdown"] == pytest.approx(-0.25, rel=1e-12)
    assert m["cagr"] == pytest.approx(math.sqrt(1.3) - 1, rel=1e-12)
    assert m["calmar"] == pytest.approx((math.sqrt(1.3) - 1) / 0.25, rel=1e-12)
    assert m["n_trades"] == 5
    assert m["win_rate"] == pytest.approx(0.4)
    assert m["profit_factor"] == pytest.approx(3.0)
    assert m["exposure"] == pytest.approx(0.6)
    assert m["costs_paid"] == 1.5 and m["final_equity"] == 130.0
    # returns 0.1, 1/11, -0.25, 1/9, 0.3; sample std; downside sqrt(0.25**2 / 5)
    r = [0.1, 120 / 110 - 1, 90 / 120 - 1, 100 / 90 - 1, 130 / 100 - 1]
    mean = sum(r) / 5
    std = math.sqrt(sum((x - mean) ** 2 for x in r) / 4)
    assert m["annual_volatility"] == pytest.approx(std * math.sqrt(2.5), rel=1e-12)
    assert m["sharpe"] == pytest.approx(mean / std * math.sqrt(2.5), rel=1e-12)
    assert m["sortino"] == pytest.approx(mean / math.sqrt(0.25**2 / 5) * math.sqrt(2.5), rel=1e-12)
    json.dumps(m, allow_nan=False)


def test_metrics_edge_cases_are_json_safe():
    ts = days(4)
    flat = performance_metrics(np.full(4, 100.0), ts, [], np.zeros(4), 0.0, 100.0)
    assert flat["sharpe"] == 0.0 and flat["sortino"] == 0.0 and flat["max_drawdown"] == 0.0
    assert flat["calmar"] == 0.0 and flat["win_rate"] == 0.0 and flat["profit_factor"] == 0.0
    assert flat["n_trades"] == 0 and flat["exposure"] == 0.0
    only_wins = performance_metrics(
        np.array([100.0, 101, 102, 103]), ts, [{"pnl": 1.0}, {"pnl": 2.0}], np.ones(4), 0.0, 100.0
    )
    assert only_wins["profit_factor"] is None and only_wins["sortino"] == 0.0
    one_bar = performance_metrics(np.array([100.0]), days(1), [], np.zeros(1), 0.0, 100.0)
    for m in (flat, only_wins, one_bar):
        json.dumps(m, allow_nan=False)
        assert all(v is None or isinstance(v, (int, float)) for v in m.values())
        assert all(isinstance(v, int) for k, v in m.items() if k == "n_trades")


# --------------------------------------------------------------------------- one Sharpe


def test_bars_per_year_and_bar_returns():
    # 5 bars over 2 years (4383 h apart) -> 2.5 bars a year; one bar spans no time -> 0.
    ts = np.datetime64("2020-01-01T00", "h") + np.arange(5) * np.timedelta64(4383, "h")
    assert bars_per_year(ts) == pytest.approx(2.5, rel=1e-12)
    assert bars_per_year(ts[:1]) == 0.0
    # the first return is from the initial capital; a bar after equity <= 0 returns 0
    assert bar_returns(np.array([110.0, 0.0, 50.0]), 100.0).tolist() == pytest.approx([0.1, -1.0, 0.0])


def test_metrics_sharpe_is_the_annualised_per_bar_sharpe():
    rng = np.random.default_rng(4)
    eq = 100.0 * np.cumprod(1 + rng.normal(0.001, 0.01, 50))
    ts = days(50)
    m = performance_metrics(eq, ts, [], np.ones(50), 0.0, 100.0)
    expected = per_bar_sharpe(bar_returns(eq, 100.0)) * math.sqrt(bars_per_year(ts))
    assert m["sharpe"] == expected
    stats = sharpe_statistics(bar_returns(eq, 100.0), [0.0], periods_per_year=bars_per_year(ts))
    assert stats["sharpe_annual"] == pytest.approx(m["sharpe"], rel=1e-12)


def test_constant_tiny_returns_have_no_sharpe_anywhere():
    # Identical tiny returns: their mean is one ulp off, so std(ddof=1) is ~1e-21, not 0,
    # and mean / std would be a Sharpe of ~1e16. Undefined instead, in every place.
    r = np.full(10, 3e-5)
    assert np.std(r, ddof=1) > 0  # the trap a "std > 0" test falls into
    assert per_bar_sharpe(r) is None
    assert sharpe_statistics(r, [0.0], periods_per_year=252)["sharpe_annual"] is None


def test_constant_growth_equity_has_sharpe_zero_not_a_huge_number():
    # An equity curve that grows by exactly the same fraction every bar: every bar return
    # is the same float, yet the mean of those floats is one ulp off, so std(ddof=1) is
    # ~6e-17. The old "std > 0" test gave an annualised Sharpe of ~9e16; the simulation's
    # Sharpe is now per_bar_sharpe's, which calls constant returns undefined: 0.0 in the
    # metrics (the schema wants a number), None in the Sharpe statistics.
    eq = np.array([125.75779880943728, 158.15023961394903, 198.88626015035297, 250.1149828994949,
                   314.5390969870052, 395.5574447659388, 497.44433556450025, 625.5750467081463,
                   786.7094086412739, 989.3484353340069])
    rets = bar_returns(eq, 100.0)
    assert np.all(rets == rets[0]) and np.std(rets, ddof=1) > 0
    ts = days(10)
    m = performance_metrics(eq, ts, [], np.ones(10), 0.0, 100.0)
    assert m["sharpe"] == 0.0
    assert m["total_return"] == pytest.approx(eq[-1] / 100 - 1, rel=1e-12)
    stats = sharpe_statistics(rets, [0.0], periods_per_year=bars_per_year(ts))
    assert stats["sharpe_per_bar"] is None and stats["sharpe_annual"] is None
    assert "constant" in stats["note"]
    json.dumps(m, allow_nan=False)
