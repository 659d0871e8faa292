"""The one feature implementation: causal technical features from OHLCV, as polars expressions.

Training and scoring both call ``compute_features`` with a ``FeatureSpec``; the
bundle carries the spec as JSON, and the scorer refuses a spec this code cannot
reproduce exactly (``check_spec``).

Causality and look-back
    Every feature at row t reads rows t-L..t of its own symbol only, where L is
    the feature's recorded look-back (``FeatureDef.lookback``); the spec's
    ``lookback`` is the largest. The first ``spec.lookback`` rows of every symbol
    are warm-up and are dropped, never filled.

Exactness under chunking
    Rolling sums are written as a fixed-order sum of shifted columns, not polars'
    ``rolling_mean``/``rolling_std``: those keep a running sum whose rounding
    depends on where the series starts, so a chunk scored with L rows of overlap
    would differ from the whole file in the last bits. With fixed-order sums a
    row's features are a pure function of its L+1 rows, bit for bit.

Per-symbol computation
    The frame is sorted by (symbol, timestamp), expressions run over the whole
    column, and then the first L rows of each symbol are dropped. Since no
    feature reads more than L rows back, every kept row reads only rows of its
    own symbol: this equals computing each symbol on its own (tested), without
    the cost of a window function per expression.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import reduce
from operator import add
from typing import Any

import polars as pl

from signalpack.errors import DataError

__all__ = [
    "FEATURE_SET_VERSION",
    "FeatureDef",
    "FeatureSpec",
    "default_feature_spec",
    "compute_features",
    "feature_columns",
    "check_spec",
    "FEATURE_KINDS",
]

FEATURE_SET_VERSION = "2"
"""2: a standard deviation used as a divisor is 0 over a flat window (``FLAT_RTOL``). 1 divided by its
rounding noise there (volume 1 on 5 bars gave volume_z_5 = -0.894 instead of 0)."""
FLAT_RTOL = 1e-12
"""A window whose sample std is at most FLAT_RTOL x |its mean| is flat: the std of equal values whose mean
is not exact in floating point is rounding noise (~1e-16 relative), and dividing by it gives an
arbitrary number. Real prices move by a tick (~1e-5 relative) and integer volumes by 1 in 1e9 (~1e-11 of
ln(1 + v)), so no real spread comes near. The in-graph features apply the same rule."""
"""Bumped whenever any feature's formula changes; bundles record the version they need."""


# --------------------------------------------------------------------------- helpers


def _wsum(e: pl.Expr, n: int) -> pl.Expr:
    """Sum of the current and n-1 previous values, in a fixed order (exact under chunking)."""
    return reduce(add, (e.shift(i) for i in range(n)))


def _safe_div(num: pl.Expr, den: pl.Expr, default: float) -> pl.Expr:
    """num / den, or ``default`` where den is zero (zero-range bars, constant volume)."""
    return pl.when(den > 0).then(num / den).otherwise(pl.lit(default))


_C, _O, _H, _L, _V = (pl.col(c) for c in ("close", "open", "high", "low", "volume"))

# Per-row helper series, computed once (stage 0).
_BASE: dict[str, pl.Expr] = {
    "r1": (_C / _C.shift(1)).log(),
    "logv": _V.log1p(),
    "gain": (_C - _C.shift(1)).clip(lower_bound=0.0),
    "loss": (_C.shift(1) - _C).clip(lower_bound=0.0),
    "tr": pl.max_horizontal(_H - _L, (_H - _C.shift(1)).abs(), (_L - _C.shift(1)).abs()),
}


class _Plan:
    """Named intermediate columns, materialised in stages so each is computed once.

    stage 0: helper series (_BASE); stage 1: window sums and means; stage 2:
    standard deviations (which read the stage-1 means). Feature expressions then
    read these columns by name, so a 20-bar std costs 2 × 20 shifted adds, not 20².
    """

    def __init__(self) -> None:
        self.stages: list[dict[str, pl.Expr]] = [{}, {}, {}]

    def _src(self, col: str) -> pl.Expr:
        if col in _BASE:
            self.stages[0].setdefault(f"__{col}", _BASE[col])
            return pl.col(f"__{col}")
        return pl.col(col)

    def base(self, col: str) -> pl.Expr:
        return self._src(col)

    def sum(self, col: str, n: int) -> pl.Expr:
        name = f"__sum_{col}_{n}"
        self.stages[1].setdefault(name, _wsum(self._src(col), n))
        return pl.col(name)

    def mean(self, col: str, n: int) -> pl.Expr:
        name = f"__mean_{col}_{n}"
        self.stages[1].setdefault(name, _wsum(self._src(col), n) / n)
        return pl.col(name)

    def std(self, col: str, n: int) -> pl.Expr:
        """Sample standard deviation (ddof=1) over the current and n-1 previous values."""
        name = f"__std_{col}_{n}"
        if name not in self.stages[2]:
            m = self.mean(col, n)
            x = self._src(col)
            self.stages[2][name] = (reduce(add, ((x.shift(i) - m) ** 2 for i in range(n))) / (n - 1)).sqrt()
        return pl.col(name)

    def spread(self, col: str, n: int) -> pl.Expr:
        """``std`` where the window is not flat (``FLAT_RTOL``), else exactly 0: a divisor for z-scores."""
        std = self.std(col, n)
        return pl.when(std > FLAT_RTOL * self.mean(col, n).abs()).then(std).otherwise(pl.lit(0.0))


# --------------------------------------------------------------------------- kinds
# Each kind: (expression builder over a plan, look-back function, description).
# Look-backs are derived from the parameters, so a spec cannot claim a shorter one.


def _log_return(p: _Plan, n: int) -> pl.Expr:
    return (_C / _C.shift(n)).log()


def _volatility(p: _Plan, n: int) -> pl.Expr:
    return p.std("r1", n)


def _close_to_sma(p: _Plan, n: int) -> pl.Expr:
    return _C / p.mean("close", n) - 1.0


def _sma_ratio(p: _Plan, fast: int, slow: int) -> pl.Expr:
    return p.mean("close", fast) / p.mean("close", slow) - 1.0


def _bar_range(p: _Plan) -> pl.Expr:
    return (_H - _L) / _C


def _close_location(p: _Plan) -> pl.Expr:
    return _safe_div(_C - _L, _H - _L, 0.5)


def _gap(p: _Plan) -> pl.Expr:
    return (_O / _C.shift(1)).log()


def _body(p: _Plan) -> pl.Expr:
    return (_C / _O).log()


def _upper_shadow(p: _Plan) -> pl.Expr:
    return (_H - pl.max_horizontal(_O, _C)) / _C


def _lower_shadow(p: _Plan) -> pl.Expr:
    return (pl.min_horizontal(_O, _C) - _L) / _C


def _volume_zscore(p: _Plan, n: int) -> pl.Expr:
    return _safe_div(p.base("logv") - p.mean("logv", n), p.spread("logv", n), 0.0)


def _rsi(p: _Plan, n: int) -> pl.Expr:
    """Cutler's RSI (simple averages: finite look-back, unlike Wilder's), centred: RSI/100 - 0.5."""
    gain, loss = p.sum("gain", n), p.sum("loss", n)
    return _safe_div(gain, gain + loss, 0.5) - 0.5


def _bollinger_position(p: _Plan, n: int, k: float) -> pl.Expr:
    return _safe_div(_C - p.mean("close", n), k * p.spread("close", n), 0.0)


def _atr(p: _Plan, n: int) -> pl.Expr:
    return p.mean("tr", n) / _C


def _stochastic(p: _Plan, n: int) -> pl.Expr:
    lo = _L.rolling_min(n)  # min/max are exact whatever the start
    hi = _H.rolling_max(n)
    return _safe_div(_C - lo, hi - lo, 0.5)


@dataclass(frozen=True)
class _Kind:
    build: Callable[..., pl.Expr]
    lookback: Callable[..., int]
    doc: str


FEATURE_KINDS: dict[str, _Kind] = {
    "log_return": _Kind(_log_return, lambda n: n, "ln(close_t / close_{t-n})"),
    "volatility": _Kind(_volatility, lambda n: n, "sample std of 1-bar log returns over n bars"),
    "close_to_sma": _Kind(_close_to_sma, lambda n: n - 1, "close / SMA_n(close) - 1"),
    "sma_ratio": _Kind(_sma_ratio, lambda fast, slow: max(fast, slow) - 1, "SMA_fast / SMA_slow - 1"),
    "bar_range": _Kind(_bar_range, lambda: 0, "(high - low) / close"),
    "close_location": _Kind(_close_location, lambda: 0, "(close - low) / (high - low); 0.5 if high == low"),
    "gap": _Kind(_gap, lambda: 1, "ln(open_t / close_{t-1})"),
    "body": _Kind(_body, lambda: 0, "ln(close / open)"),
    "upper_shadow": _Kind(_upper_shadow, lambda: 0, "(high - max(open, close)) / close"),
    "lower_shadow": _Kind(_lower_shadow, lambda: 0, "(min(open, close) - low) / close"),
    "volume_zscore": _Kind(_volume_zscore, lambda n: n - 1, "z-score of ln(1 + volume) over n bars; 0 if constant"),
    "rsi": _Kind(_rsi, lambda n: n, "Cutler RSI over n bars / 100 - 0.5; 0 if no change"),
    "bollinger_position": _Kind(_bollinger_position, lambda n, k: n - 1, "(close - SMA_n) / (k * std_n); 0 if flat"),
    "atr": _Kind(_atr, lambda n: n, "mean true range over n bars / close"),
    "stochastic": _Kind(_stochastic, lambda n: n - 1, "(close - min low_n) / (max high_n - min low_n); 0.5 if flat"),
}


# --------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class FeatureDef:
    """One feature: its column name, kind, parameters and look-back in rows."""

    name: str
    kind: str
    params: tuple[tuple[str, float | int], ...] = ()
    lookback: int = 0

    @classmethod
    def make(cls, name: str, kind: str, **params: float | int) -> FeatureDef:
        if kind not in FEATURE_KINDS:
            raise DataError(f"feature {name!r}: unknown kind {kind!r}; known: {sorted(FEATURE_KINDS)}")
        items = tuple(sorted(params.items()))
        return cls(name, kind, items, FEATURE_KINDS[kind].lookback(**params))

    def expr(self, plan: _Plan) -> pl.Expr:
        """This feature as an expression over ``plan``'s intermediate columns."""
        return FEATURE_KINDS[self.kind].build(plan, **dict(self.params)).alias(self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "params": dict(self.params),
            "lookback": self.lookback,
            "description": FEATURE_KINDS[self.kind].doc,
        }


@dataclass(frozen=True)
class FeatureSpec:
    """Names, order, parameters and look-backs of the model's input features."""

    version: str
    features: tuple[FeatureDef, ...]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def lookback(self) -> int:
        """Rows of history the features need before the first valid row (max over features)."""
        return max(f.lookback for f in self.features)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "lookback": self.lookback,
            "features": [f.to_dict() for f in self.features],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Rebuild a spec (e.g. from a bundle), recomputing look-backs from this code."""
        try:
            version = str(data["version"])
            feats = tuple(
                FeatureDef.make(f["name"], f["kind"], **f.get("params", {})) for f in data["features"]
            )
        except (KeyError, TypeError) as exc:
            raise DataError(f"feature spec is malformed: missing or invalid {exc}") from exc
        return cls(version, feats)

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        return cls.from_dict(json.loads(text))


def default_feature_spec() -> FeatureSpec:
    """The documented default feature set (23 features, look-back 49 rows)."""
    F = FeatureDef.make
    return FeatureSpec(
        FEATURE_SET_VERSION,
        (
            F("ret_1", "log_return", n=1),
            F("ret_5", "log_return", n=5),
            F("ret_10", "log_return", n=10),
            F("ret_20", "log_return", n=20),
            F("vol_5", "volatility", n=5),
            F("vol_20", "volatility", n=20),
            F("close_sma_5", "close_to_sma", n=5),
            F("close_sma_20", "close_to_sma", n=20),
            F("close_sma_50", "close_to_sma", n=50),
            F("sma_5_20", "sma_ratio", fast=5, slow=20),
            F("sma_20_50", "sma_ratio", fast=20, slow=50),
            F("bar_range", "bar_range"),
            F("close_loc", "close_location"),
            F("gap", "gap"),
            F("body", "body"),
            F("upper_shadow", "upper_shadow"),
            F("lower_shadow", "lower_shadow"),
            F("volume_z_5", "volume_zscore", n=5),
            F("volume_z_20", "volume_zscore", n=20),
            F("rsi_14", "rsi", n=14),
            F("bb_pos_20", "bollinger_position", n=20, k=2.0),
            F("atr_14", "atr", n=14),
            F("stoch_14", "stochastic", n=14),
        ),
    )


def check_spec(spec: Mapping[str, Any]) -> FeatureSpec:
    """Parse a spec read from elsewhere (a bundle) and confirm this code reproduces it.

    Raises DataError naming the mismatch: another feature-set version, an unknown
    kind, or a recorded look-back that differs from what this code computes.
    """
    version = str(spec.get("version"))
    if version != FEATURE_SET_VERSION:
        raise DataError(
            f"the bundle needs feature set version {version}; this signalpack computes "
            f"version {FEATURE_SET_VERSION}: install the signalpack release that built the bundle"
        )
    parsed = FeatureSpec.from_dict(spec)
    for recorded, ours in zip(spec["features"], parsed.features, strict=True):
        if int(recorded.get("lookback", ours.lookback)) != ours.lookback:
            raise DataError(
                f"feature {ours.name!r}: the bundle records look-back {recorded['lookback']}, "
                f"this code computes {ours.lookback}"
            )
    return parsed


# --------------------------------------------------------------------------- compute


def feature_columns(frame: pl.DataFrame, spec: FeatureSpec) -> pl.DataFrame:
    """Add the spec's feature columns (float64) to every row, warm-up rows included (null or partial)."""
    plan = _Plan()
    feats = [f.expr(plan) for f in spec.features]
    out = frame
    helpers: list[str] = []
    for stage in plan.stages:
        if stage:
            out = out.with_columns(**stage)
            helpers += list(stage)
    return out.with_columns(feats).drop(helpers)


def compute_features(frame: pl.DataFrame, spec: FeatureSpec) -> pl.DataFrame:
    """Add the spec's feature columns (float64) and drop each symbol's warm-up rows.

    frame : a checked, (symbol, timestamp)-sorted OHLCV frame (see ``score.io``).
    Returns the input columns plus one column per feature, in spec order, with
    the first ``spec.lookback`` rows of every symbol removed.
    """
    return feature_columns(frame, spec).filter(pl.int_range(pl.len()).over("symbol") >= spec.lookback)
