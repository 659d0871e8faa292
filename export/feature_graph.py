"""The FeatureSpec's technical features as standard ONNX ops: raw bars in, features out.

``feature_graph(spec, seq_len)`` is a standalone model with one input ``ohlcv``,
float64 ``[batch, W, 5]`` (W = ``spec.lookback + seq_len`` rows of open, high,
low, close, volume, oldest first, one symbol per window: see
``signalpack.score.bar_windows.raw_windows``) and one output ``features``,
float64 ``[batch, seq_len, n_features]``: feature k at step j is the spec's
feature k at window row ``lookback + j``, as ``compute_features`` gives it for
that row. ``feature_nodes`` returns the same nodes and initializers with
prefixed names, for a composer to splice in front of the model.

Portability
    Default-domain ops only, opset 14..17 (ReduceMin/ReduceMax keep ``axes`` as
    an attribute up to 17), IR version 8, no Loop/Scan/If and no contrib ops.

Design (measured in ``bench/feature_graph_bench.py``, batch 512, one thread)
    * The input is transposed once to ``[5, B, W]``; every series is then a 2-D
      ``[B, rows]`` tensor holding only the rows some feature reads. onnxruntime
      broadcasts a scalar over ``[B, 1, n]`` element by element (~7x slower than
      over ``[B, n]``), so nothing is shaped ``[B, 1, n]``.
    * Rolling sums are linear: all the sums one series needs, for every window
      length and every one of the seq_len steps, are one ``MatMul`` of its rows
      with a constant banded 0/1 matrix ``[rows, lengths * seq_len]``. A sum of
      equal values is then exact whenever polars' is (the 0 entries add exact 0s).
    * Standard deviations (``std="sumsq"``) come from two more MatMuls:
      var = sum(y²)/(n-1) - sum(y)²/(n(n-1)), y = x - the mean of the last window
      (0 for log returns, so flat runs give exactly 0). Centring keeps the
      cancellation to ~1e-13 relative on real data: the parity figures equal
      those of polars' two-pass form (``std="two_pass"``, windows gathered with a
      constant index), which makes the graph ~2.5x slower; Gather + ReduceSum
      sums (``rolling="gather"``) make it ~4x slower.
    * Log returns, gap and body are differences of ln(close) and ln(open): 69 Logs
      per window instead of 118 (Log is the dearest op, ~8 ns per double), for an
      absolute error of about one ulp of ln(price) (~1e-15).
    * Rolling min/max are exact: doubling windows over shifted slices.

Zero denominators
    ``safe_div`` is ``Where(den > 0, num / Where(den > 0, den, 1), default)``:
    ONNX ``Where`` evaluates both branches, so the unused one divides by 1 and
    no NaN or inf is produced (zero-volume, zero-range and flat bars).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from signalpack.errors import ExportError
from signalpack.score.contract import BAR_COLUMNS, BARS_INPUT_NAME, IR_VERSION, MIN_OPSET
from signalpack.score.features import FLAT_RTOL, FeatureDef, FeatureSpec

__all__ = [
    "FEATURE_GRAPH_INPUT",
    "FEATURE_GRAPH_OUTPUT",
    "MAX_FEATURE_OPSET",
    "ROLLING_METHODS",
    "STD_METHODS",
    "compiled_kinds",
    "feature_graph",
    "feature_nodes",
    "window_rows",
]

FEATURE_GRAPH_INPUT = BARS_INPUT_NAME
FEATURE_GRAPH_OUTPUT = "features"
MAX_FEATURE_OPSET = 17
"""Opset 18 moves ReduceMin/ReduceMax ``axes`` to an input; the graph is written for <= 17."""
ROLLING_METHODS = ("matmul", "gather")
STD_METHODS = ("sumsq", "two_pass")

_UNCENTRED = frozenset({"r1"})
"""Series whose sum-of-squares reference is 0 rather than the mean of the last window."""


def window_rows(spec: FeatureSpec, seq_len: int) -> int:
    """Rows of raw bars one window needs: the spec's look-back plus the sequence length."""
    return spec.lookback + seq_len


class _Compiler:
    """Feature nodes first (they name the series and statistics they read), then ``finish``
    emits exactly those series and statistics into a section placed before them."""

    def __init__(self, spec: FeatureSpec, seq_len: int, prefix: str, rolling: str, std: str) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.L, self.S, self.W = spec.lookback, seq_len, spec.lookback + seq_len
        self.prefix, self.rolling, self.std_method = prefix, rolling, std
        self.pre: list[Any] = []
        self.feat: list[Any] = []
        self.inits: dict[str, Any] = {}
        self.consts: dict[tuple[Any, ...], str] = {}
        self.count = 0
        self.first_row: dict[str, int] = {}  # series -> first row any reader needs
        self.reads: dict[tuple[Any, ...], str] = {}  # ("at", s, shift) / (stat, s, n) -> deferred name
        self.tensors: dict[str, tuple[str, int]] = {}  # series -> (tensor [B, W - start], start)
        self.memo: dict[tuple[Any, ...], str] = {}
        self.alias: dict[str, str] = {}  # deferred read name -> the tensor that holds it

    # ---------------------------------------------------------------- plumbing

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{self.prefix}{hint}_{self.count}"

    def op(self, op_type: str, *inputs: str, out: str | None = None, pre: bool = True, **attrs: Any) -> str:
        """One node; an identical unnamed node of the same section is reused (common subexpressions)."""
        key = ("op", pre, op_type, inputs, repr(sorted(attrs.items())))
        if out is None and key in self.memo:
            return self.memo[key]
        name = out or self.name(op_type.lower())
        node = self.helper.make_node(op_type, list(inputs), [name], name=self.name(op_type), **attrs)
        (self.pre if pre else self.feat).append(node)
        if out is None:
            self.memo[key] = name
        return name

    def split(self, x: str, parts: int) -> list[str]:
        """A 2-D tensor's columns in ``parts`` equal blocks."""
        outs = [self.name("split") for _ in range(parts)]
        self.pre.append(self.helper.make_node("Split", [x], outs, name=self.name("Split"), axis=1))
        return outs

    def f(self, op_type: str, *inputs: str, **attrs: Any) -> str:
        """A node of the feature section."""
        return self.op(op_type, *inputs, pre=False, **attrs)

    def const(self, value: Any, dtype: Any = np.float64) -> str:
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self.consts:
            name = self.name("const")
            self.inits[name] = self.numpy_helper.from_array(arr, name)
            self.consts[key] = name
        return self.consts[key]

    def cols(self, x: str, start: int, end: int) -> str:
        """Columns start..end-1 of a 2-D tensor."""
        i64 = np.int64
        return self.op("Slice", x, self.const([start], i64), self.const([end], i64), self.const([1], i64))

    def safe_div(self, num: str, den: str, default: float) -> str:
        """compute_features' ``_safe_div``, with both Where branches finite."""
        pos = self.f("Greater", den, self.const(0.0))
        q = self.f("Div", num, self.f("Where", pos, den, self.const(1.0)))
        return self.f("Where", pos, q, self.const(default))

    # ---------------------------------------------------------------- what features read: [B, S]

    def need(self, s: str, row: int) -> None:
        self.first_row[s] = min(row, self.first_row.get(s, row))
        for dep, lag in _DEPS.get(s, ()):
            self.need(dep, row - lag)

    def at(self, s: str, shift: int = 0) -> str:
        """Series ``s`` at the output rows moved back by ``shift`` rows."""
        self.need(s, self.L - shift)
        return self.read(("at", s, shift))

    def stat(self, stat: str, s: str, n: int) -> str:
        """Rolling sum / mean / std / min / max of ``s`` over n rows ending at each output row."""
        if n < (2 if stat == "std" else 1):
            raise ExportError(f"a rolling {stat} over {n} rows is undefined (the sample std needs n >= 2)")
        self.need(s, self.L - n + 1)
        return self.read((stat, s, n))

    def read(self, key: tuple[Any, ...]) -> str:
        if key not in self.reads:
            self.reads[key] = self.name("_".join(map(str, key)))
        return self.reads[key]

    # ---------------------------------------------------------------- series [B, rows]

    def rows(self, s: str, a: int, b: int) -> str:
        """Rows a..b-1 of series ``s``: a bar column is sliced straight from the transposed input."""
        if s in BAR_COLUMNS:
            i64, k = np.int64, BAR_COLUMNS.index(s)
            part = self.op("Slice", self.bars, self.const([k, a], i64), self.const([k + 1, b], i64),
                           self.const([0, 2], i64))  # [1, B, b - a]
            return self.op("Reshape", part, self.const([-1, b - a], i64))
        name, start = self.tensors[s]
        if (a, b) == (start, self.W):
            return name
        return self.cols(name, a - start, b - start)

    # ---------------------------------------------------------------- statistics

    def finish(self, input_name: str) -> None:
        """Emit the series, the rows features read and the rolling statistics, before the features."""
        # [B, W, 5] → [5, B, W] as a 2-D transpose of [B * W, 5] between Reshapes: measured cheaper
        # than Split along the last axis, and the Reshapes keep onnxruntime's transpose optimizer
        # from rewriting it into element-by-element Gathers.
        if min(self.first_row.values(), default=0) < 0:
            raise ExportError(f"internal: the features read rows before the window: {self.first_row}")
        i64 = np.int64
        flat = self.op("Reshape", input_name, self.const([-1, len(BAR_COLUMNS)], i64))
        cols = self.op("Transpose", flat, perm=[1, 0])
        self.bars = self.op("Reshape", cols, self.const([len(BAR_COLUMNS), -1, self.W], i64))
        for s, build in _DERIVED.items():  # in dependency order
            if s in self.first_row:
                self.tensors[s] = (build(self, self.first_row[s]), self.first_row[s])
        for key, out in self.reads.items():
            if key[0] == "at":
                _, s, shift = key
                self.alias[out] = self.rows(s, self.L - shift, self.W - shift)
        for s in dict.fromkeys(key[1] for key in self.reads if key[0] != "at"):
            self.emit_stats(s)

    def emit_stats(self, s: str) -> None:
        want = {(stat, n): out for (stat, ser, n), out in self.reads.items() if ser == s and stat != "at"}
        for (stat, n), out in want.items():
            if stat in ("min", "max"):
                _extreme(self, s, n, stat, out)
        lengths = sorted({n for stat, n in want if stat in ("sum", "mean", "std")})
        if not lengths:
            return
        sums = _ROLLING[self.rolling](self, s, lengths)
        stds = {n: _STD[self.std_method](self, s, n, sums[n]) for n in sorted({n for stat, n in want if stat == "std"})}
        for (stat, n), out in want.items():
            if stat == "sum":
                self.alias[out] = sums[n]
            elif stat == "mean":  # sum / n, as polars: a constant window's mean is then exact when its sum is
                self.op("Div", sums[n], self.const(float(n)), out=out)
            elif stat == "std":
                self.alias[out] = stds[n]

    def band(self, a: int, lengths: list[int], scale: float = 1.0) -> str:
        """[W - a, len(lengths) * S], ``scale`` or 0: column (k, j) sums rows L+j-n_k+1..L+j of a
        series held from row a."""
        rows = np.arange(a, self.W)[:, None]
        t = self.L + np.arange(self.S)[None, :]
        inside = np.concatenate([(rows <= t) & (rows > t - n) for n in lengths], axis=1)
        return self.const(np.where(inside, scale, 0.0))

    def windows(self, s: str, n: int) -> str:
        """[B, S, n]: the n rows ending at each output row, newest first (a constant-index Gather)."""
        a = self.L - n + 1
        idx = self.L + np.arange(self.S)[:, None] - np.arange(n)[None, :] - a
        return self.op("Gather", self.rows(s, a, self.W), self.const(idx, np.int64), axis=1)


# --------------------------------------------------------------------------- rolling sums and stds


def _sums_matmul(c: _Compiler, s: str, lengths: list[int]) -> dict[int, str]:
    """Every rolling sum of ``s`` at every output step: one MatMul with a banded 0/1 matrix."""
    a = c.L - max(lengths) + 1
    prod = c.op("MatMul", c.rows(s, a, c.W), c.band(a, lengths))  # [B, len(lengths) * S]
    if len(lengths) == 1:
        return {lengths[0]: prod}
    return dict(zip(lengths, c.split(prod, len(lengths)), strict=True))


def _sums_gather(c: _Compiler, s: str, lengths: list[int]) -> dict[int, str]:
    return {n: c.op("ReduceSum", c.windows(s, n), c.const([2], np.int64), keepdims=0) for n in lengths}


def _std_sumsq(c: _Compiler, s: str, n: int, total: str) -> str:
    """sqrt(sum(y²) / (n - 1) - sum(y)² / (n (n - 1))), y = x - reference, the sums as MatMuls.

    The reference is the mean of the last window (0 for log returns), so y is
    small and the subtraction loses few digits; windows that are constant at
    their own mean give y = 0 and a standard deviation of exactly 0, as in polars.
    The scales are folded into the band matrices.
    """
    a = c.L - n + 1
    x = c.rows(s, a, c.W)
    root = 1.0 / np.sqrt(n * (n - 1.0))
    if s in _UNCENTRED:
        y, s1 = x, c.op("Mul", total, c.const(root))
    else:
        ref = c.op("Div", c.cols(total, c.S - 1, c.S), c.const(float(n)))  # [B, 1]
        y = c.op("Sub", x, ref)
        s1 = c.op("MatMul", y, c.band(a, [n], root))
    s2 = c.op("MatMul", c.op("Mul", y, y), c.band(a, [n], 1.0 / (n - 1)))
    return c.op("Sqrt", c.op("Relu", c.op("Sub", s2, c.op("Mul", s1, s1))))


def _std_two_pass(c: _Compiler, s: str, n: int, total: str) -> str:
    """polars' formula: sqrt(sum((x - mean)²) / (n - 1)) over gathered windows."""
    mean = c.op("Unsqueeze", c.op("Div", total, c.const(float(n))), c.const([2], np.int64))
    dev = c.op("Sub", c.windows(s, n), mean)
    ss = c.op("ReduceSum", c.op("Mul", dev, dev), c.const([2], np.int64), keepdims=0)
    return c.op("Sqrt", c.op("Div", ss, c.const(float(n - 1))))


def _extreme(c: _Compiler, s: str, n: int, stat: str, out: str) -> None:
    """Exact rolling min/max over n rows: doubling windows m_2k[r] = op(m_k[r], m_k[r - k])."""
    op = "Min" if stat == "min" else "Max"
    a = c.L - n + 1
    cur, start, k = c.rows(s, a, c.W), a, 1
    while 2 * k <= n:  # cur holds m_k (window k) over rows start..W-1
        width = c.W - start
        cur = c.op(op, c.cols(cur, k, width), c.cols(cur, 0, width - k))
        start, k = start + k, 2 * k
    first = c.L - start  # m_k at row t, and at t - (n - k): together they cover n rows
    c.op(op, c.cols(cur, first, first + c.S), c.cols(cur, first - (n - k), first - (n - k) + c.S), out=out)


_ROLLING: dict[str, Callable[[_Compiler, str, list[int]], dict[int, str]]] = {
    "matmul": _sums_matmul, "gather": _sums_gather,
}
_STD: dict[str, Callable[[_Compiler, str, int, str], str]] = {"sumsq": _std_sumsq, "two_pass": _std_two_pass}


# --------------------------------------------------------------------------- helper series over rows a..W-1


def _prev(c: _Compiler, s: str, a: int) -> str:
    """Series ``s`` one row back, over rows a..W-1."""
    return c.rows(s, a - 1, c.W - 1)


def _log1p(c: _Compiler, a: int) -> str:
    """ln(1 + v) to ~1 ulp for v >= 0: ln(u) + (v - (u - 1)) / u with u = 1 + v.

    The correction is u's rounding error over u: exactly 0 when 1 + v is exact
    (integer volumes), and v when v is below the rounding of 1 (u == 1).
    """
    v = c.rows("volume", a, c.W)
    u = c.op("Add", v, c.const(1.0))
    lost = c.op("Sub", v, c.op("Sub", u, c.const(1.0)))
    return c.op("Add", c.op("Log", u), c.op("Div", lost, u))


def _true_range(c: _Compiler, a: int) -> str:
    """max(h - l, |h - c_prev|, |l - c_prev|) = max(h, c_prev) - min(l, c_prev), bit for bit.

    Either way the result is one rounded difference of the same two prices.
    """
    pc = _prev(c, "close", a)
    return c.op("Sub", c.op("Max", c.rows("high", a, c.W), pc), c.op("Min", c.rows("low", a, c.W), pc))


def _change(c: _Compiler, a: int) -> str:
    return c.op("Sub", c.rows("close", a, c.W), _prev(c, "close", a))


_DERIVED: dict[str, Callable[[_Compiler, int], str]] = {  # in dependency order
    "lc": lambda c, a: c.op("Log", c.rows("close", a, c.W)),
    "lo": lambda c, a: c.op("Log", c.rows("open", a, c.W)),
    "r1": lambda c, a: c.op("Sub", c.rows("lc", a, c.W), _prev(c, "lc", a)),
    "logv": _log1p,
    "gain": lambda c, a: c.op("Relu", _change(c, a)),
    "loss": lambda c, a: c.op("Relu", c.op("Neg", _change(c, a))),
    "tr": _true_range,
}
_DEPS: dict[str, tuple[tuple[str, int], ...]] = {"r1": (("lc", 0), ("lc", 1))}
"""Derived series read from other derived series (series, rows back); bar columns are always whole."""


# --------------------------------------------------------------------------- kinds → [B, S]


def _minus_one(c: _Compiler, num: str, den: str) -> str:
    return c.f("Sub", c.f("Div", num, den), c.const(1.0))


def _spread(c: _Compiler, s: str, n: int) -> str:
    """compute_features' ``spread``: the std, or 0 where it is at most FLAT_RTOL x |mean| (a flat window)."""
    std = c.stat("std", s, n)
    floor = c.f("Mul", c.f("Abs", c.stat("mean", s, n)), c.const(FLAT_RTOL))
    return c.f("Where", c.f("Greater", std, floor), std, c.const(0.0))


def _bollinger(c: _Compiler, n: int, k: float) -> str:
    den = c.f("Mul", c.const(float(k)), _spread(c, "close", n))
    return c.safe_div(c.f("Sub", c.at("close"), c.stat("mean", "close", n)), den, 0.0)


def _stochastic(c: _Compiler, n: int) -> str:
    lo, hi = c.stat("min", "low", n), c.stat("max", "high", n)
    return c.safe_div(c.f("Sub", c.at("close"), lo), c.f("Sub", hi, lo), 0.5)


def _rsi(c: _Compiler, n: int) -> str:
    gain, loss = c.stat("sum", "gain", n), c.stat("sum", "loss", n)
    return c.f("Sub", c.safe_div(gain, c.f("Add", gain, loss), 0.5), c.const(0.5))


def _shadow(c: _Compiler, upper: bool) -> str:
    if upper:
        return c.f("Div", c.f("Sub", c.at("high"), c.f("Max", c.at("open"), c.at("close"))), c.at("close"))
    return c.f("Div", c.f("Sub", c.f("Min", c.at("open"), c.at("close")), c.at("low")), c.at("close"))


_KINDS: dict[str, Callable[..., str]] = {
    "log_return": lambda c, n: c.f("Sub", c.at("lc"), c.at("lc", n)),
    "volatility": lambda c, n: c.stat("std", "r1", n),
    "close_to_sma": lambda c, n: _minus_one(c, c.at("close"), c.stat("mean", "close", n)),
    "sma_ratio": lambda c, fast, slow: _minus_one(c, c.stat("mean", "close", fast), c.stat("mean", "close", slow)),
    "bar_range": lambda c: c.f("Div", c.f("Sub", c.at("high"), c.at("low")), c.at("close")),
    "close_location": lambda c: c.safe_div(
        c.f("Sub", c.at("close"), c.at("low")), c.f("Sub", c.at("high"), c.at("low")), 0.5),
    "gap": lambda c: c.f("Sub", c.at("lo"), c.at("lc", 1)),
    "body": lambda c: c.f("Sub", c.at("lc"), c.at("lo")),
    "upper_shadow": lambda c: _shadow(c, upper=True),
    "lower_shadow": lambda c: _shadow(c, upper=False),
    "volume_zscore": lambda c, n: c.safe_div(
        c.f("Sub", c.at("logv"), c.stat("mean", "logv", n)), _spread(c, "logv", n), 0.0),
    "rsi": _rsi,
    "bollinger_position": _bollinger,
    "atr": lambda c, n: c.f("Div", c.stat("mean", "tr", n), c.at("close")),
    "stochastic": _stochastic,
}


def compiled_kinds() -> set[str]:
    """Feature kinds this module compiles (a test checks it equals ``FEATURE_KINDS``)."""
    return set(_KINDS)


def _compile(c: _Compiler, feat: FeatureDef) -> str:
    if feat.kind not in _KINDS:
        raise ExportError(f"feature {feat.name!r}: kind {feat.kind!r} has no ONNX form; known: {sorted(_KINDS)}")
    return _KINDS[feat.kind](c, **dict(feat.params))


# --------------------------------------------------------------------------- public


def feature_nodes(
    spec: FeatureSpec,
    seq_len: int,
    input_name: str = FEATURE_GRAPH_INPUT,
    output_name: str = FEATURE_GRAPH_OUTPUT,
    prefix: str = "feat/",
    rolling: str = "matmul",
    std: str = "sumsq",
) -> tuple[list[Any], list[Any]]:
    """The feature computation as (nodes, initializers); every name but input and output is prefixed.

    input_name : float64 [batch, spec.lookback + seq_len, 5] bars (open, high, low, close, volume).
    output_name : float64 [batch, seq_len, spec.n_features], features in spec order.
    rolling, std : how rolling sums and standard deviations are computed (module docstring);
        the defaults are the measured choice.
    """
    if seq_len < 1:
        raise ExportError(f"seq_len must be at least 1, got {seq_len}")
    if not spec.features:
        raise ExportError("the feature spec has no features")
    if rolling not in ROLLING_METHODS or std not in STD_METHODS:
        raise ExportError(f"rolling must be one of {ROLLING_METHODS} and std one of {STD_METHODS}")
    c = _Compiler(spec, seq_len, prefix, rolling, std)
    outs = [_compile(c, feat) for feat in spec.features]
    # [F * B, S] → [F, B, S] → [B, S, F]: a Concat of whole blocks and one Transpose (measured
    # ~2x cheaper than concatenating along the feature axis, which copies S values at a time).
    flat = outs[0] if len(outs) == 1 else c.f("Concat", *outs, axis=0)
    shaped = c.f("Reshape", flat, c.const([spec.n_features, -1, seq_len], np.int64))
    c.f("Transpose", shaped, perm=[1, 2, 0], out=output_name)
    c.finish(input_name)
    nodes = c.pre + c.feat
    for node in nodes:  # reads that are plain tensors were named before the tensors existed
        node.input[:] = [c.alias.get(name, name) for name in node.input]
    return nodes, list(c.inits.values())


def feature_graph(
    spec: FeatureSpec, seq_len: int, opset: int = MAX_FEATURE_OPSET, rolling: str = "matmul", std: str = "sumsq"
) -> Any:
    """A checked ``onnx.ModelProto``: ``ohlcv`` float64 [batch, W, 5] → ``features`` float64 [batch, seq_len, F]."""
    import onnx
    from onnx import TensorProto, helper

    if not MIN_OPSET <= opset <= MAX_FEATURE_OPSET:
        raise ExportError(f"the feature graph needs opset {MIN_OPSET}..{MAX_FEATURE_OPSET}, got {opset}")
    nodes, inits = feature_nodes(spec, seq_len, rolling=rolling, std=std)
    graph = helper.make_graph(
        nodes,
        "signalpack_features",
        [helper.make_tensor_value_info(FEATURE_GRAPH_INPUT, TensorProto.DOUBLE,
                                       ["batch", window_rows(spec, seq_len), len(BAR_COLUMNS)])],
        [helper.make_tensor_value_info(FEATURE_GRAPH_OUTPUT, TensorProto.DOUBLE,
                                       ["batch", seq_len, spec.n_features])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="signalpack.feature_graph")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model
