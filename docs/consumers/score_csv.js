// A signalpack bundle (format 2) from JavaScript, with onnxruntime-node only:
// check the golden vectors, then score a CSV of daily bars.
//
//   npm install --ignore-scripts onnxruntime-node     # tested with 1.30.0
//   node score_csv.js BUNDLE.onnx GOLDEN.json [BARS.csv] [--window W] [--atol 1e-5]
// (node_modules in this file's folder or above, or NODE_PATH=path/to/node_modules)
//
// onnxruntime-node does not expose the bundle's custom metadata, so GOLDEN.json is the
// value of metadata_props["signalpack.golden"], extracted beforehand (any ONNX/protobuf tool).
// --atol is manifest["golden"]["atol"] (1e-5 unless exported with another --atol).
//
// Output, one JSON document per line on stdout:
//   {"golden": {"n", "max_abs_diff", "atol", "signal_equal", "ok"}}     (exit 1 if not ok)
//   then, with a CSV, one line per bar that has W bars of its symbol up to and including it:
//   {"symbol"?, "timestamp", "signal", "probabilities": [sell, hold, buy], "confidence"}
// The CSV: a header naming open, high, low, close, volume (any case), a timestamp column
// (timestamp/datetime/date/time, else the first column) and optionally symbol/ticker; the rows
// of each symbol oldest first. Input `ohlcv`: float64 [batch, W, 5] in that column order.
// Tested verbatim against `score run` by tests/export/test_portability.py.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

const CLASSES = ['SELL', 'HOLD', 'BUY'];  // signal 0, 1, 2
const BATCH = 512;                          // windows per session.run

function tensorData(d) {  // golden tensor: base64 of little-endian bytes (row-major)
  const buf = Buffer.from(d.data, 'base64');
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const T = { float64: Float64Array, float32: Float32Array, int64: BigInt64Array }[d.dtype];
  if (!T) throw new Error(`unknown golden dtype ${d.dtype}`);
  return new T(ab);
}

async function checkGolden(session, golden, atol) {
  const feeds = {};
  for (const [name, d] of Object.entries(golden.inputs)) feeds[name] = new ort.Tensor(d.dtype, tensorData(d), d.shape);
  const out = await session.run(feeds);
  let worst = 0, signalEqual = true, shapesEqual = true;
  for (const [name, d] of Object.entries(golden.outputs)) {
    const want = tensorData(d), got = out[name];
    if (!got || got.dims.join() !== d.shape.join()) { shapesEqual = false; continue; }
    for (let i = 0; i < want.length; i++) {
      if (name === 'signal') signalEqual = signalEqual && got.data[i] === want[i];
      else worst = Math.max(worst, Math.abs(got.data[i] - want[i]));
    }
  }
  const n = Object.values(golden.inputs)[0].shape[0];
  return { n, max_abs_diff: worst, atol, signal_equal: signalEqual, ok: shapesEqual && signalEqual && worst <= atol };
}

function readBars(path) {  // -> Map symbol -> {timestamps: [...], bars: [[o, h, l, c, v], ...]}
  const [header, ...lines] = fs.readFileSync(path, 'utf8').split(/\r?\n/).filter((l) => l.trim() !== '');
  const names = header.split(',').map((h) => h.trim().toLowerCase());
  const col = (n) => { const i = names.indexOf(n); if (i < 0) throw new Error(`${path}: no column ${n}`); return i; };
  const ohlcv = ['open', 'high', 'low', 'close', 'volume'].map(col);
  let ts = ['timestamp', 'datetime', 'date', 'time'].map((n) => names.indexOf(n)).find((i) => i >= 0);
  if (ts === undefined) ts = 0;
  const sym = ['symbol', 'ticker'].map((n) => names.indexOf(n)).find((i) => i >= 0);
  const series = new Map();
  for (const line of lines) {
    const f = line.split(',');
    const key = sym === undefined ? null : f[sym].trim();
    if (!series.has(key)) series.set(key, { timestamps: [], bars: [] });
    const s = series.get(key);
    s.timestamps.push(f[ts].trim());
    s.bars.push(ohlcv.map((i) => Number(f[i])));
  }
  return series;
}

async function scoreCsv(session, path, w) {
  const input = session.inputNames[0];  // 'ohlcv'
  for (const [symbol, { timestamps, bars }] of readBars(path)) {
    const ends = [];  // index of the last (scored) bar of each window
    for (let t = w - 1; t < bars.length; t++) ends.push(t);
    for (let b = 0; b < ends.length; b += BATCH) {
      const batch = ends.slice(b, b + BATCH);
      const x = new Float64Array(batch.length * w * 5);
      batch.forEach((t, k) => {
        for (let r = 0; r < w; r++) x.set(bars[t - w + 1 + r], (k * w + r) * 5);  // oldest first
      });
      const out = await session.run({ [input]: new ort.Tensor('float64', x, [batch.length, w, 5]) });
      batch.forEach((t, k) => {
        const row = symbol === null ? {} : { symbol };
        row.timestamp = timestamps[t];
        row.signal = CLASSES[Number(out.signal.data[k])];
        row.probabilities = Array.from(out.probabilities.data.subarray(k * 3, k * 3 + 3));
        row.confidence = out.confidence.data[k];
        console.log(JSON.stringify(row));
      });
    }
  }
}

(async () => {
  const args = process.argv.slice(2);
  const opt = (name) => { const i = args.indexOf(name); return i < 0 ? undefined : args.splice(i, 2)[1]; };
  const windowArg = opt('--window'), atol = Number(opt('--atol') ?? 1e-5);
  const [bundle, goldenPath, csvPath] = args;
  if (!bundle || !goldenPath) throw new Error('usage: node score_csv.js BUNDLE.onnx GOLDEN.json [BARS.csv] [--window W] [--atol A]');
  const session = await ort.InferenceSession.create(fs.readFileSync(bundle));
  const golden = await checkGolden(session, JSON.parse(fs.readFileSync(goldenPath, 'utf8')), atol);
  console.log(JSON.stringify({ golden }));
  if (!golden.ok) { console.error('FAIL: the bundle does not reproduce its golden vectors'); process.exit(1); }
  if (!csvPath) return;
  // W: the input's dimension 1 (inputMetadata, onnxruntime-node >= 1.22), else --window (manifest "window_rows")
  const meta = session.inputMetadata && session.inputMetadata[0];
  const w = meta && Number.isInteger(meta.shape && meta.shape[1]) ? meta.shape[1] : Number(windowArg);
  if (!(w > 0)) throw new Error('window length unknown: pass --window W (manifest "window_rows")');
  if (windowArg !== undefined && Number(windowArg) !== w) throw new Error(`--window ${windowArg} but the graph takes ${w} rows`);
  await scoreCsv(session, csvPath, w);
})().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
