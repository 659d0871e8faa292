// A consumer in another language: read the bundle's golden vectors and check them.
const ort = require('onnxruntime-node');
const fs = require('fs');
function arr(d) {
  const buf = Buffer.from(d.data, 'base64');
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  return d.dtype === 'float32' ? new Float32Array(ab) : new BigInt64Array(ab);
}
(async () => {
  const bytes = fs.readFileSync(process.argv[2]);
  const session = await ort.InferenceSession.create(bytes);
  // onnxruntime-node does not expose custom metadata; the golden JSON is passed alongside
  const golden = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
  const f = golden.inputs.features;
  const out = await session.run({ features: new ort.Tensor('float32', arr(f), f.shape) });
  let worst = 0;
  for (const k of ['probabilities', 'confidence', 'member_probabilities']) {
    const exp = arr(golden.outputs[k]);
    const got = out[k].data;
    for (let i = 0; i < exp.length; i++) worst = Math.max(worst, Math.abs(exp[i] - got[i]));
  }
  const es = arr(golden.outputs.signal), gs = out.signal.data;
  let same = es.length === gs.length;
  for (let i = 0; i < es.length; i++) same = same && es[i] === gs[i];
  console.log(JSON.stringify({ max_abs_diff: worst, signal_equal: same, n: f.shape[0] }));
})().catch((e) => { console.error(String(e)); process.exit(1); });
