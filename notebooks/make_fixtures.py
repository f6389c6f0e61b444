#!/usr/bin/env python3
"""Write the small test fixtures in tests/fixtures/ (deterministic).

    python3 notebooks/make_fixtures.py

Needs numpy, scipy, onnx and onnxruntime (notebooks/requirements.txt). Every random draw
uses a fixed seed, and the ONNX files are serialised from fixed graphs, so a rerun
rewrites the same bytes. See tests/fixtures/README.md for what each file is for.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from scipy import stats

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures"

OPSET = 17
IR_VERSION = 8

LINEAR_W = [1.5, -2.0, 0.5]
LINEAR_B = 0.25


def _model(graph, check=True):
    m = helper.make_model(graph, producer_name="robcert-fixtures", producer_version="1",
                          opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = IR_VERSION
    if check:
        onnx.checker.check_model(m, full_check=True)
    return m


def _save(model, name):
    path = OUT / name
    path.write_bytes(model.SerializeToString())
    return path


def _session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _f32(values):
    return np.asarray(values, dtype=np.float32)


def fmt32(v):
    """Nine significant digits: enough to read the same float32 back."""
    return format(float(np.float32(v)), ".9g")


def linear_2class():
    """logits = [0, w.x + b]: a Gemm with B[3,2] whose first column is zero."""
    B = np.zeros((3, 2), dtype=np.float32)
    B[:, 1] = LINEAR_W
    C = _f32([0.0, LINEAR_B])
    g = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W", "b"], ["logits"], name="linear")],
        "linear_2class",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])],
        initializer=[numpy_helper.from_array(B, "W"), numpy_helper.from_array(C, "b")],
    )
    path = _save(_model(g), "linear_2class.onnx")
    (OUT / "linear_2class.json").write_text(
        '{"w": [' + ", ".join(repr(v) for v in LINEAR_W) + f'], "b": {LINEAR_B!r}}}\n')

    # self-check against the closed form
    x = np.random.default_rng(11).uniform(-3, 3, size=(64, 3)).astype(np.float32)
    out = _session(path).run(None, {"x": x})[0]
    want = np.stack([np.zeros(64), x.astype(np.float64) @ np.array(LINEAR_W) + LINEAR_B], axis=1)
    assert out.shape == (64, 2) and np.allclose(out, want, atol=1e-5), "linear_2class is wrong"
    return path


def exotic_ops():
    """s0 = sin(3 x0) + erf(x1);  s1 = Where(x2 > 0, cos(2 x0), erf(-x1)) + 0.25 |x2|."""
    inits = [
        numpy_helper.from_array(np.array([0], dtype=np.int64), "i0"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "i1"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "i2"),
        numpy_helper.from_array(_f32(3.0), "three"),
        numpy_helper.from_array(_f32(2.0), "two"),
        numpy_helper.from_array(_f32(0.0), "zero"),
        numpy_helper.from_array(_f32(0.25), "quarter"),
    ]
    n = helper.make_node
    nodes = [
        n("Gather", ["x", "i0"], ["x0"], axis=1, name="col0"),  # [N,1]
        n("Gather", ["x", "i1"], ["x1"], axis=1, name="col1"),
        n("Gather", ["x", "i2"], ["x2"], axis=1, name="col2"),
        n("Mul", ["x0", "three"], ["x0_3"]),
        n("Sin", ["x0_3"], ["sin_3x0"]),
        n("Erf", ["x1"], ["erf_x1"]),
        n("Add", ["sin_3x0", "erf_x1"], ["s0"]),
        n("Mul", ["x0", "two"], ["x0_2"]),
        n("Cos", ["x0_2"], ["cos_2x0"]),
        n("Neg", ["x1"], ["neg_x1"]),
        n("Erf", ["neg_x1"], ["erf_neg_x1"]),
        n("Greater", ["x2", "zero"], ["x2_pos"]),
        n("Where", ["x2_pos", "cos_2x0", "erf_neg_x1"], ["branch"]),
        n("Abs", ["x2"], ["abs_x2"]),
        n("Mul", ["abs_x2", "quarter"], ["abs_x2_q"]),
        n("Add", ["branch", "abs_x2_q"], ["s1"]),
        n("Concat", ["s0", "s1"], ["scores"], axis=1),
    ]
    g = helper.make_graph(
        nodes, "exotic_ops",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 2])],
        initializer=inits,
    )
    path = _save(_model(g), "exotic_ops.onnx")

    rng = np.random.default_rng(2024)
    x = rng.uniform(-2.0, 2.0, size=(500, 3)).astype(np.float32)
    s = _session(path).run(["scores"], {"x": x})[0]
    assert s.shape == (500, 2) and s.dtype == np.float32

    # the scores must follow the formula (float64 reference) ...
    xd = x.astype(np.float64)
    from scipy.special import erf
    r0 = np.sin(3 * xd[:, 0]) + erf(xd[:, 1])
    r1 = np.where(xd[:, 2] > 0, np.cos(2 * xd[:, 0]), erf(-xd[:, 1])) + 0.25 * np.abs(xd[:, 2])
    assert np.allclose(s, np.stack([r0, r1], axis=1), atol=1e-5), "exotic_ops disagrees with formula"
    # ... and the argmax must move with each input
    top = np.argmax(s, axis=1)
    assert 0.2 < top.mean() < 0.8, top.mean()
    for j in range(3):
        xs = x.copy()
        xs[:, j] = rng.uniform(-2.0, 2.0, size=500).astype(np.float32)
        assert (np.argmax(_session(path).run(None, {"x": xs})[0], axis=1) != top).any(), j

    with open(OUT / "exotic_ops_cases.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["x0", "x1", "x2", "s0", "s1"])
        for xi, si in zip(x, s):
            w.writerow([fmt32(v) for v in xi] + [fmt32(v) for v in si])
    # the CSV must read back to the exact float32 values
    back = np.loadtxt(OUT / "exotic_ops_cases.csv", delimiter=",", skiprows=1).astype(np.float32)
    assert np.array_equal(back[:, :3], x) and np.array_equal(back[:, 3:], s)
    return path


def bad_models():
    # two float inputs: a + b -> Gemm -> [N,2]
    W = np.array([[1.0, -1.0], [0.5, 0.5], [-2.0, 1.0]], dtype=np.float32)
    g = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["ab"]),
         helper.make_node("Gemm", ["ab", "W"], ["logits"])],
        "two_inputs",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])],
        initializer=[numpy_helper.from_array(W, "W")],
    )
    p = _save(_model(g), "two_inputs.onnx")
    assert len(_session(p).get_inputs()) == 2

    # float input, int64 class index output
    g = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W"], ["logits"]),
         helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0)],
        "int_output",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"])],
        initializer=[numpy_helper.from_array(W, "W")],
    )
    p = _save(_model(g), "int_output.onnx")
    out = _session(p).run(None, {"x": np.ones((4, 3), dtype=np.float32)})[0]
    assert out.dtype == np.int64 and out.shape == (4,)

    # not a protobuf at all
    (OUT / "not_onnx.onnx").write_text(
        "This is not an ONNX model.\n"
        "It is a plain text file with an .onnx extension,\n"
        "used to test that loading it fails with a clear error.\n")

    # the first 60% of a valid model
    data = (OUT / "linear_2class.onnx").read_bytes()
    (OUT / "truncated.onnx").write_bytes(data[: int(len(data) * 0.6)])

    for name in ("not_onnx.onnx", "truncated.onnx"):
        try:
            _session(OUT / name)
        except Exception:  # onnxruntime must refuse both
            pass
        else:
            raise AssertionError(f"onnxruntime loaded {name}")


def clopper_pearson():
    """Exact one-sided lower confidence bound for a binomial proportion."""
    alphas = [0.001, 0.01, 0.05, 0.1]
    ns = [1, 2, 10, 37, 100, 1000, 10000, 100000, 1000000]
    rng = np.random.default_rng(5)
    rows = []
    for n in ns:
        ks = {0, 1, 2, n // 2, n - 1, n}
        ks.update(int(k) for k in rng.integers(0, n + 1, size=2))
        for k in sorted(k for k in ks if 0 <= k <= n):
            for a in alphas:
                lower = 0.0 if k == 0 else float(stats.beta.ppf(a, k, n - k + 1))
                rows.append((k, n, a, lower))
    with open(OUT / "clopper_pearson_scipy.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["k", "n", "alpha", "lower"])
        for k, n, a, lower in rows:
            w.writerow([k, n, repr(a), repr(lower)])
    return len(rows)


def normal_ppf():
    ps = [0.5, 0.6, 0.9, 0.99, 0.999, 0.9999, 0.99999, 1 - 1e-7, 1 - 1e-9, 1 - 1e-12]
    with open(OUT / "normal_ppf_scipy.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["p", "ppf"])
        for p in ps:
            w.writerow([repr(p), repr(float(stats.norm.ppf(p)))])
    return len(ps)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    linear_2class()
    exotic_ops()
    bad_models()
    n_cp = clopper_pearson()
    n_ppf = normal_ppf()
    print(f"wrote fixtures to {OUT} ({n_cp} Clopper-Pearson rows, {n_ppf} normal quantiles)")


if __name__ == "__main__":
    main()
