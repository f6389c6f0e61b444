#!/usr/bin/env python3
"""Train the robcert demo fraud MLP under four regimes and export each to ONNX.

One architecture, four training regimes:

* ``standard``  - plain class-weighted cross-entropy;
* ``gaussian``  - Gaussian noise augmentation on the attacker-controlled features
                  (the noise randomized smoothing uses at certification time);
* ``pgd``       - Madry-style PGD adversarial training inside the threat box;
* ``ibp``       - interval bound propagation training (Gowal et al. 2018) over the
                  same box, with a hand-written interval backward pass.

Everything is plain numpy (float64 for training); the exported graphs are float32.
The normalisation (training-set mean and std) is baked into the ONNX graph as its
first two nodes, so the models take raw feature values in file order.

Run from the repository root (or anywhere: paths are resolved against the repo):

    python3 notebooks/train.py

It writes models/fraud_mlp_{standard,gaussian,pgd,ibp}.onnx, models/models.json and
models/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
TRAIN_CSV = REPO / "notebooks" / ".cache" / "fraud_train.csv"
TEST_CSV = REPO / "models" / "data" / "fraud_test.csv"
MODELS_DIR = REPO / "models"

TRAIN_ROWS = 100_000
TRAIN_SEED = 1
LABEL = "is_fraud"
IGNORED = ("txn_id",)

# Threat model of models/threat_demo.toml: what the attacker may change, in raw units.
MUTABLE_BUDGETS = {"amount": 50.0, "hour": 2.0, "velocity_1h": 1.0, "merchant_risk": 0.1}

HIDDEN = 64
OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17; onnxruntime 1.32 reads it
STD_FLOOR = 1e-6

# Hyper-parameters of each regime. Seeds are per regime, so each model is reproducible
# on its own. `fraud_weight` is the class weight of the fraud class in every loss.
COMMON = {
    "hidden": [HIDDEN, HIDDEN],
    "optimizer": "adam",
    "adam_betas": [0.9, 0.999],
    "batch_size": 512,
    "fraud_weight": 8.0,
    "init": "he_normal",
}
REGIMES = {
    "standard": {
        **COMMON,
        "seed": 101,
        "epochs": 20,
        "lr": 1e-3,
    },
    "gaussian": {
        **COMMON,
        "seed": 202,
        "epochs": 20,
        "lr": 1e-3,
        "sigma": 1.0,
        "noise": "N(0, (sigma*budget_f)^2) on the mutable features, fresh each batch, not clipped",
    },
    "pgd": {
        **COMMON,
        "seed": 303,
        "epochs": 20,
        "lr": 1e-3,
        "pgd_steps": 8,
        "pgd_step_size": 0.3,  # in budget units per step (x budget_f), signed gradient
        "pgd_random_start": True,
        "clean_weight": 0.5,  # loss = clean_weight * clean + (1 - clean_weight) * adversarial
        "eps_warmup_epochs": 2,  # clean-only epochs before the attack starts
    },
    "ibp": {
        **COMMON,
        "seed": 404,
        "epochs": 30,
        "lr": 1e-3,
        "warmup_epochs": 3,  # clean-only epochs (eps = 0, kappa = 1)
        "ramp_epochs": 12,  # eps 0 -> 1 and kappa 1 -> kappa_final, linearly per step
        "kappa_final": 0.5,  # loss = kappa * clean + (1 - kappa) * worst-case (IBP) loss
        "bound": "elided last layer: upper bound of logit(other) - logit(label)",
    },
}
ORDER = ["standard", "gaussian", "pgd", "ibp"]

EVAL_PGD_STEPS = 20
EVAL_PGD_STEP_SIZE = 0.15  # budget units per step
EVAL_PGD_SEED = 9


# --------------------------------------------------------------------------- data


def ensure_train_data(robcert: Path, path: Path = TRAIN_CSV) -> Path:
    """Generate the training split with `robcert data synth` unless it already exists."""
    if path.exists():
        return path
    if not robcert.exists():
        sys.exit(f"{path} is missing and {robcert} does not exist: build robcert "
                 "(cargo build --release) or pass --robcert PATH")
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(robcert), "data", "synth", "--rows", str(TRAIN_ROWS),
           "--seed", str(TRAIN_SEED), "--out", str(path)]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return path


def load_csv(path: Path):
    """Return (feature names, X float64 [n, d], y int64 [n]) in file column order."""
    with open(path, newline="") as f:
        header = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    feats = [i for i, c in enumerate(header) if c != LABEL and c not in IGNORED]
    names = [header[i] for i in feats]
    X = data[:, feats]
    y = data[:, header.index(LABEL)].astype(np.int64)
    return names, X, y


class Threat:
    """Per-feature budgets (0 for fixed features) and the valid range [lo, hi]."""

    def __init__(self, names, X_range_source):
        self.names = list(names)
        self.budget = np.array([MUTABLE_BUDGETS.get(n, 0.0) for n in names])
        missing = set(MUTABLE_BUDGETS) - set(names)
        if missing:
            raise ValueError(f"mutable features not in data: {sorted(missing)}")
        self.lo = X_range_source.min(axis=0)
        self.hi = X_range_source.max(axis=0)

    def box(self, X, scale=1.0):
        """Raw-unit box x +- scale*budget intersected with the valid range."""
        r = scale * self.budget
        return np.maximum(X - r, self.lo), np.minimum(X + r, self.hi)


# --------------------------------------------------------------------------- network


def init_params(rng, d_in, hidden=HIDDEN):
    """He-normal weights, zero biases. W has shape [fan_in, fan_out]."""
    sizes = [d_in, hidden, hidden, 2]
    p = {}
    for k in range(3):
        fan_in, fan_out = sizes[k], sizes[k + 1]
        p[f"W{k + 1}"] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
        p[f"b{k + 1}"] = np.zeros(fan_out)
    return p


def forward(p, z):
    """Forward pass on normalised inputs z. Returns (logits, cache)."""
    a1 = z @ p["W1"] + p["b1"]
    h1 = np.maximum(a1, 0.0)
    a2 = h1 @ p["W2"] + p["b2"]
    h2 = np.maximum(a2, 0.0)
    out = h2 @ p["W3"] + p["b3"]
    return out, (z, a1, h1, a2, h2)


def backward(p, cache, dout, want_params=True):
    """Backward pass. Returns (param grads or None, d loss / d z)."""
    z, a1, h1, a2, h2 = cache
    g = {}
    if want_params:
        g["W3"] = h2.T @ dout
        g["b3"] = dout.sum(0)
    da2 = (dout @ p["W3"].T) * (a2 > 0)
    if want_params:
        g["W2"] = h1.T @ da2
        g["b2"] = da2.sum(0)
    da1 = (da2 @ p["W2"].T) * (a1 > 0)
    if want_params:
        g["W1"] = z.T @ da1
        g["b1"] = da1.sum(0)
    dz = da1 @ p["W1"].T
    return (g if want_params else None), dz


def weighted_ce(logits, y, w):
    """Mean of w_i * CE_i over the batch, normalised by sum(w). Returns (loss, dlogits)."""
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    logp = logits - m - np.log(s)
    n = len(y)
    wsum = w.sum()
    loss = -(w * logp[np.arange(n), y]).sum() / wsum
    d = e / s
    d[np.arange(n), y] -= 1.0
    d *= (w / wsum)[:, None]
    return loss, d


def softplus(t):
    return np.maximum(t, 0.0) + np.log1p(np.exp(-np.abs(t)))


def sigmoid(t):
    out = np.empty_like(t)
    pos = t >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-t[pos]))
    et = np.exp(t[~pos])
    out[~pos] = et / (1.0 + et)
    return out


def ibp_loss(p, zl, zu, y, w, want_grads=True):
    """IBP worst-case loss over the box [zl, zu] (normalised units) and its gradient.

    Bounds go through the two hidden layers in centre/radius form
    (c' = c W + b, r' = r |W|, then ReLU on lower and upper bounds). The last layer is
    folded into the specification: for label y and other class j, the upper bound of
    logit_j - logit_y over the interval of h2 is ub = s (c2 . D + db) + r2 . |D| with
    D = W3[:,1] - W3[:,0], db = b3[1] - b3[0], s = +1 for y = 0 and -1 for y = 1.
    The worst-case cross-entropy of the logits (0 for y, ub for j) is softplus(ub).
    Returns (weighted mean loss, grads or None, ub per row).
    """
    c0 = 0.5 * (zl + zu)
    r0 = 0.5 * (zu - zl)
    W1, W2, W3 = p["W1"], p["W2"], p["W3"]
    aW1, aW2 = np.abs(W1), np.abs(W2)
    a1c = c0 @ W1 + p["b1"]
    a1r = r0 @ aW1
    l1, u1 = a1c - a1r, a1c + a1r
    h1l, h1u = np.maximum(l1, 0.0), np.maximum(u1, 0.0)
    c1 = 0.5 * (h1l + h1u)
    r1 = 0.5 * (h1u - h1l)
    a2c = c1 @ W2 + p["b2"]
    a2r = r1 @ aW2
    l2, u2 = a2c - a2r, a2c + a2r
    h2l, h2u = np.maximum(l2, 0.0), np.maximum(u2, 0.0)
    c2 = 0.5 * (h2l + h2u)
    r2 = 0.5 * (h2u - h2l)
    D = W3[:, 1] - W3[:, 0]
    db = p["b3"][1] - p["b3"][0]
    s = np.where(y == 0, 1.0, -1.0)
    ub = s * (c2 @ D + db) + r2 @ np.abs(D)
    wsum = w.sum()
    loss = float((w * softplus(ub)).sum() / wsum)
    if not want_grads:
        return loss, None, ub

    g_ub = w * sigmoid(ub) / wsum  # d loss / d ub
    g = {}
    gs = g_ub * s
    dD = c2.T @ gs + (r2.T @ g_ub) * np.sign(D)
    g["W3"] = np.stack([-dD, dD], axis=1)
    ddb = gs.sum()
    g["b3"] = np.array([-ddb, ddb])
    dc2 = np.outer(gs, D)
    dr2 = np.outer(g_ub, np.abs(D))
    dl2 = (0.5 * (dc2 - dr2)) * (l2 > 0)
    du2 = (0.5 * (dc2 + dr2)) * (u2 > 0)
    da2c, da2r = dl2 + du2, du2 - dl2
    g["W2"] = c1.T @ da2c + (r1.T @ da2r) * np.sign(W2)
    g["b2"] = da2c.sum(0)
    dc1 = da2c @ W2.T
    dr1 = da2r @ aW2.T
    dl1 = (0.5 * (dc1 - dr1)) * (l1 > 0)
    du1 = (0.5 * (dc1 + dr1)) * (u1 > 0)
    da1c, da1r = dl1 + du1, du1 - dl1
    g["W1"] = c0.T @ da1c + (r0.T @ da1r) * np.sign(W1)
    g["b1"] = da1c.sum(0)
    return loss, g, ub


def ibp_gradcheck(seed=0, n=7, d=5, hidden=6, verbose=True):
    """Compare the hand-written IBP gradient with central finite differences.

    Small random network and boxes in float64; every parameter entry is checked.
    Also checks that the bound is sound (ub >= margin at sampled points of the box).
    Returns the maximum relative error.
    """
    rng = np.random.default_rng(seed)
    p = init_params(rng, d, hidden)
    for k in ("b1", "b2", "b3"):
        p[k] = rng.normal(0.0, 0.3, size=p[k].shape)
    zc = rng.normal(size=(n, d))
    rad = np.abs(rng.normal(0.0, 0.3, size=(n, d)))
    rad[:, 0] = 0.0  # a fixed feature
    zl, zu = zc - rad, zc + rad
    y = rng.integers(0, 2, size=n)
    w = np.where(y == 1, 3.0, 1.0)
    _, g, ub = ibp_loss(p, zl, zu, y, w)

    # soundness: the bound must dominate the margin at any point inside the box
    pts = zl[None] + rng.random((200, n, d)) * (zu - zl)[None]
    s = np.where(y == 0, 1.0, -1.0)
    for z in pts:
        out, _ = forward(p, z)
        assert np.all(s * (out[:, 1] - out[:, 0]) <= ub + 1e-9), "IBP bound not sound"

    h = 1e-6
    worst = 0.0
    for k, v in p.items():
        it = np.nditer(v, flags=["multi_index"])
        for _ in it:
            idx = it.multi_index
            old = v[idx]
            v[idx] = old + h
            lp, _, _ = ibp_loss(p, zl, zu, y, w, want_grads=False)
            v[idx] = old - h
            lm, _, _ = ibp_loss(p, zl, zu, y, w, want_grads=False)
            v[idx] = old
            num = (lp - lm) / (2 * h)
            rel = abs(num - g[k][idx]) / max(1e-6, abs(num) + abs(g[k][idx]))
            worst = max(worst, rel)
    if verbose:
        print(f"IBP gradient check: max relative error {worst:.2e} "
              f"over {sum(v.size for v in p.values())} parameters")
    if worst > 1e-5:
        raise AssertionError(f"IBP gradient check failed: {worst:.3e}")
    return worst


class Adam:
    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.lr, (self.b1, self.b2), self.eps = lr, betas, eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, params, grads, lr=None):
        lr = self.lr if lr is None else lr
        self.t += 1
        c1 = 1.0 - self.b1 ** self.t
        c2 = 1.0 - self.b2 ** self.t
        for k in params:
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * grads[k]
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * grads[k] ** 2
            params[k] -= lr * (self.m[k] / c1) / (np.sqrt(self.v[k] / c2) + self.eps)


# --------------------------------------------------------------------------- attacks


def margin_grad_x(p, X, mean, std, y, objective="ce"):
    """Gradient w.r.t. raw x of the attacker's objective (to be maximised).

    "ce": cross-entropy of the true label; "margin": logit(other) - logit(label).
    """
    z = (X - mean) / std
    out, cache = forward(p, z)
    n = len(y)
    if objective == "ce":
        _, dout = weighted_ce(out, y, np.ones(n))
        dout *= n  # per-row gradient scale does not matter for a signed step
    else:
        s = np.where(y == 0, 1.0, -1.0)
        dout = np.stack([-s, s], axis=1)
    _, dz = backward(p, cache, dout, want_params=False)
    return dz / std, out


def pgd(p, X, y, mean, std, lo, hi, budget, steps, step_size, rng, random_start,
        objective="ce", keep_best=False):
    """Signed-gradient PGD in the box [lo, hi] (raw units, already clipped to the range).

    step_size is in budget units: each step moves feature f by step_size * budget_f.
    With keep_best, returns for each row the iterate with the largest margin
    logit(other) - logit(label) seen (the clean point included).
    """
    alpha = step_size * budget
    if random_start:
        Xa = lo + rng.random(X.shape) * (hi - lo)
    else:
        Xa = X.copy()
    s = np.where(y == 0, 1.0, -1.0)
    best = Xa.copy()
    best_m = np.full(len(y), -np.inf)
    for _ in range(steps + 1):
        g, out = margin_grad_x(p, Xa, mean, std, y, objective)
        if keep_best:
            m = s * (out[:, 1] - out[:, 0])
            better = m > best_m
            best[better] = Xa[better]
            best_m[better] = m[better]
        if _ == steps:
            break
        Xa = np.clip(Xa + alpha * np.sign(g), lo, hi)
    return best if keep_best else Xa


# --------------------------------------------------------------------------- training


def train(regime, X, y, names, mean, std, threat, verbose=True):
    """Train one regime on raw X (float64). Returns (params, log)."""
    hp = REGIMES[regime]
    rng = np.random.default_rng(hp["seed"])
    p = init_params(rng, X.shape[1], HIDDEN)
    opt = Adam(p, hp["lr"], tuple(hp["adam_betas"]))
    n, bs, epochs = len(y), hp["batch_size"], hp["epochs"]
    steps_per_epoch = (n + bs - 1) // bs
    total_steps = epochs * steps_per_epoch
    cw = np.array([1.0, hp["fraud_weight"]])
    zs = 1.0 / std
    log = []
    t0 = time.time()
    step = 0
    for ep in range(epochs):
        perm = rng.permutation(n)
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            xb, yb = X[idx], y[idx]
            wb = cw[yb]
            # cosine decay of the learning rate to 5% of its start value
            lr = hp["lr"] * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * step / total_steps)))

            if regime == "standard":
                out, cache = forward(p, (xb - mean) * zs)
                loss, dout = weighted_ce(out, yb, wb)
                g, _ = backward(p, cache, dout)

            elif regime == "gaussian":
                noise = rng.normal(size=xb.shape) * (hp["sigma"] * threat.budget)
                out, cache = forward(p, (xb + noise - mean) * zs)
                loss, dout = weighted_ce(out, yb, wb)
                g, _ = backward(p, cache, dout)

            elif regime == "pgd":
                out, cache = forward(p, (xb - mean) * zs)
                loss, dout = weighted_ce(out, yb, wb)
                g, _ = backward(p, cache, dout)
                if ep >= hp["eps_warmup_epochs"]:
                    lo, hi = threat.box(xb)
                    xa = pgd(p, xb, yb, mean, std, lo, hi, threat.budget, hp["pgd_steps"],
                             hp["pgd_step_size"], rng, hp["pgd_random_start"])
                    outa, cachea = forward(p, (xa - mean) * zs)
                    lossa, douta = weighted_ce(outa, yb, wb)
                    ga, _ = backward(p, cachea, douta)
                    cwt = hp["clean_weight"]
                    g = {k: cwt * g[k] + (1 - cwt) * ga[k] for k in g}
                    loss = cwt * loss + (1 - cwt) * lossa

            elif regime == "ibp":
                warm = hp["warmup_epochs"] * steps_per_epoch
                ramp = hp["ramp_epochs"] * steps_per_epoch
                frac = min(1.0, max(0.0, (step - warm) / ramp))
                kappa = 1.0 - frac * (1.0 - hp["kappa_final"])
                out, cache = forward(p, (xb - mean) * zs)
                loss, dout = weighted_ce(out, yb, wb)
                g, _ = backward(p, cache, dout)
                if frac > 0:
                    lo, hi = threat.box(xb, scale=frac)
                    lossr, gr, _ = ibp_loss(p, (lo - mean) * zs, (hi - mean) * zs, yb, wb)
                    g = {k: kappa * g[k] + (1 - kappa) * gr[k] for k in g}
                    loss = kappa * loss + (1 - kappa) * lossr
            else:
                raise ValueError(regime)

            opt.step(p, g, lr)
            tot += loss * len(yb)
            step += 1
        log.append(tot / n)
        if verbose:
            print(f"  [{regime}] epoch {ep + 1:2d}/{epochs} loss {tot / n:.4f} "
                  f"({time.time() - t0:.1f}s)", flush=True)
    return p, {"loss_per_epoch": log, "seconds": time.time() - t0}


# --------------------------------------------------------------------------- ONNX


def export_onnx(p, mean, std, names, path: Path, regime: str):
    """Write the ONNX graph: Sub(mean) -> Div(std) -> Gemm -> Relu -> Gemm -> Relu -> Gemm."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    d = len(names)
    f32 = np.float32
    inits = [
        numpy_helper.from_array(mean.astype(f32), "norm_mean"),
        numpy_helper.from_array(std.astype(f32), "norm_std"),
    ]
    for k in (1, 2, 3):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(p[f"W{k}"].astype(f32)), f"W{k}"))
        inits.append(numpy_helper.from_array(p[f"b{k}"].astype(f32), f"b{k}"))
    nodes = [
        helper.make_node("Sub", ["x", "norm_mean"], ["x_centered"], name="normalize_sub"),
        helper.make_node("Div", ["x_centered", "norm_std"], ["x_norm"], name="normalize_div"),
        helper.make_node("Gemm", ["x_norm", "W1", "b1"], ["a1"], name="dense1"),
        helper.make_node("Relu", ["a1"], ["h1"], name="relu1"),
        helper.make_node("Gemm", ["h1", "W2", "b2"], ["a2"], name="dense2"),
        helper.make_node("Relu", ["a2"], ["h2"], name="relu2"),
        helper.make_node("Gemm", ["h2", "W3", "b3"], ["logits"], name="dense3"),
    ]
    graph = helper.make_graph(
        nodes, f"fraud_mlp_{regime}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", d])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, producer_name="robcert-notebooks", producer_version="1",
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string=(f"Fraud MLP ({regime} training). Input x: raw features in this order: "
                    + ", ".join(names) + ". Output logits[:,1] = fraud."),
    )
    model.ir_version = IR_VERSION
    # `robcert.features` / `robcert.classes` (JSON arrays) are what robcert reads to match data
    # columns to the model's inputs by name; the plain `features`/`classes` keys are kept.
    helper.set_model_props(model, {"regime": regime, "features": ",".join(names),
                                   "classes": "legit,fraud",
                                   "robcert.features": json.dumps(list(names)),
                                   "robcert.classes": json.dumps(["legit", "fraud"])})
    onnx.checker.check_model(model, full_check=True)
    path.write_bytes(model.SerializeToString())
    # every initializer must be stored as raw_data
    for t in onnx.load(str(path)).graph.initializer:
        assert t.raw_data and not t.float_data, t.name
    return path


def numpy_forward_f32(p, mean, std, X):
    """Reference forward pass with the exported float32 weights (computed in float64)."""
    f32 = lambda a: np.asarray(a, dtype=np.float32).astype(np.float64)  # noqa: E731
    z = (f32(X) - f32(mean)) / f32(std)
    q = {k: f32(v) for k, v in p.items()}
    out, _ = forward(q, z)
    return out


def ort_session(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_logits(sess, X):
    return sess.run(["logits"], {"x": np.asarray(X, dtype=np.float32)})[0]


def predict(logits):
    """argmax; ties go to class 0 (np.argmax returns the first maximum)."""
    return np.argmax(logits, axis=1)


def metrics(pred, y):
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    return {
        "accuracy": float((pred == y).mean()),
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
    }


def pgd_robust_fraud_recall(p, sess, X, y, mean, std, threat):
    """Share of test fraud rows still flagged as fraud after a 20-step PGD evasion.

    The attack maximises logit(legit) - logit(fraud) with signed steps inside the
    threat box (clipped to the valid range), from the clean point and from one random
    start; the best point of each run is checked with onnxruntime. A row counts as
    robust only if it is flagged at the clean point and at both attack points.
    """
    Xf = X[y == 1]
    yf = y[y == 1]
    lo, hi = threat.box(Xf)
    rng = np.random.default_rng(EVAL_PGD_SEED)
    robust = predict(ort_logits(sess, Xf)) == 1
    for random_start in (False, True):
        Xa = pgd(p, Xf, yf, mean, std, lo, hi, threat.budget, EVAL_PGD_STEPS,
                 EVAL_PGD_STEP_SIZE, rng, random_start, objective="margin", keep_best=True)
        assert np.all(Xa >= lo) and np.all(Xa <= hi)
        robust &= predict(ort_logits(sess, Xa)) == 1
    return float(robust.mean()), int(robust.sum())


def ibp_certified_fraud_recall(p, X, y, mean, std, threat):
    """Share of test fraud rows that interval bounds (float64, no rounding margin) prove
    stay fraud over the whole threat box. A diagnostic only, not a certificate."""
    Xf = X[y == 1]
    yf = y[y == 1]
    lo, hi = threat.box(Xf)
    _, _, ub = ibp_loss(p, (lo - mean) / std, (hi - mean) / std, yf, np.ones(len(yf)),
                        want_grads=False)
    return float((ub < 0).mean())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- reports


def write_models_json(results, path: Path = MODELS_DIR / "models.json"):
    entries = []
    for r in results:
        entries.append({
            "file": r["file"],
            "regime": r["regime"],
            "hyperparameters": r["hyperparameters"],
            "sha256": r["sha256"],
            "test_accuracy": round(r["test_accuracy"], 6),
            "test_fraud_recall": round(r["test_fraud_recall"], 6),
            "test_fraud_precision": round(r["test_fraud_precision"], 6),
            "test_rows": r["test_rows"],
            "test_fraud_rows": r["test_fraud_rows"],
            "pgd_robust_fraud_recall": round(r["pgd_robust_fraud_recall"], 6),
        })
    path.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    return path


def _hp_summary(regime):
    hp = REGIMES[regime]
    base = (f"{hp['epochs']} epochs, batch {hp['batch_size']}, Adam lr {hp['lr']:g} (cosine), "
            f"fraud weight {hp['fraud_weight']:g}, seed {hp['seed']}")
    if regime == "gaussian":
        extra = f"; noise sigma {hp['sigma']:g} x budget on mutable features"
    elif regime == "pgd":
        extra = (f"; PGD {hp['pgd_steps']} steps of {hp['pgd_step_size']:g} x budget, random start, "
                 f"loss {hp['clean_weight']:g} clean + {1 - hp['clean_weight']:g} adversarial, "
                 f"{hp['eps_warmup_epochs']} clean warm-up epochs")
    elif regime == "ibp":
        extra = (f"; {hp['warmup_epochs']} clean epochs, eps ramp 0->1 and kappa 1->"
                 f"{hp['kappa_final']:g} over {hp['ramp_epochs']} epochs")
    else:
        extra = ""
    return base + extra


def write_models_readme(results, names, threat, train_seconds, path: Path = MODELS_DIR / "README.md"):
    rows = "\n".join(
        f"| `{r['file']}` | {r['regime']} | {_hp_summary(r['regime'])} | "
        f"{r['test_accuracy']:.4f} | {r['test_fraud_recall']:.4f} | "
        f"{r['test_fraud_precision']:.4f} | {r['pgd_robust_fraud_recall']:.4f} | "
        f"{r['ibp_certified_fraud_recall']:.4f} | "
        f"`{r['sha256']}` |"
        for r in results)
    feats = "\n".join(f"{i}. `{n}`" for i, n in enumerate(names))
    budgets = "\n".join(f"| `{n}` | ±{b:g} | [{lo:g}, {hi:g}] |"
                        for n, b, lo, hi in zip(names, threat.budget, threat.lo, threat.hi) if b > 0)
    r0 = results[0]
    text = f"""# Demo models

Four copies of one small fraud classifier, trained on synthetic card transactions under
four regimes, for `robcert` to certify. `threat_demo.toml` describes the threat model
they were trained against; `data/fraud_test.csv` is the held-out test split.
`models.json` holds the same figures as the table below, machine-readable.

## Test figures

On `data/fraud_test.csv` ({r0['test_rows']} rows, {r0['test_fraud_rows']} fraud), evaluated
with ONNX Runtime; a row is flagged as fraud when `logits[1] > logits[0]` (ties go to legit).
"PGD robust recall" is the share of the test fraud rows still flagged after a
{EVAL_PGD_STEPS}-step PGD evasion attack within the threat box (two starts: the clean point
and a random point). It is an empirical upper bound on certified recall, not a certificate.
"IBP-proved recall" is the share of test fraud rows that plain interval bounds (computed by
`train.py` in float64, without outward rounding) show to stay fraud over the whole box: a
rough lower bound, listed only to compare regimes; `robcert` computes its own certificates.

| file | regime | hyper-parameters | accuracy | fraud recall | fraud precision | PGD robust recall | IBP-proved recall | SHA-256 |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
{rows}

## How they were made

```
python3 -m pip install -r notebooks/requirements.txt
python3 notebooks/train.py            # add --robcert PATH if robcert is not at target/release/robcert
```

`notebooks/train.py` (numpy only, no deep-learning framework) generates the training split with
`robcert data synth --rows {TRAIN_ROWS} --seed {TRAIN_SEED}` (cached in `notebooks/.cache/`),
trains the four regimes with fixed seeds, exports them, checks them with the ONNX checker and
against its own forward pass, and writes this file and `models.json`. Training all four takes
one to two minutes on a 2-core machine (PGD training is the slowest). A rerun on the same machine gives the same
bytes; another BLAS or CPU may change the last bits of the weights and so the hashes.
`notebooks/train_models.ipynb` walks through the same steps.

Regimes:

- **standard**: class-weighted cross-entropy.
- **gaussian**: every training batch gets fresh noise N(0, (σ·budget_f)²) on the mutable
  features (σ = 1), the noise that randomized smoothing with `sigma = 1.0` adds when it
  certifies; the noisy points are not clipped to the valid range.
- **pgd**: Madry-style adversarial training: each batch is attacked by signed-gradient PGD on
  the cross-entropy inside the threat box (random start), and the loss mixes clean and
  adversarial cross-entropy.
- **ibp**: interval bound propagation training (Gowal et al., 2018): interval bounds of the
  network over the threat box (last layer folded into the logit-difference specification), loss
  = κ·clean + (1−κ)·worst-case cross-entropy, with the box scaled from 0 to the full budget and
  κ from 1 to 0.5 during training. The interval backward pass is written by hand and checked
  against finite differences (`ibp_gradcheck`).

All four regimes attack or bound every training row (fraud and legit) and use the same class
weight on both the clean and the robust loss.

## Architecture

ONNX opset {OPSET}, IR version {IR_VERSION}, float32, weights stored as initializers:

```
x: float32[N, {len(names)}]   raw features, order below
  -> Sub(norm_mean) -> Div(norm_std)   training-set mean and std (std floored at {STD_FLOOR:g})
  -> Gemm({len(names)}->{HIDDEN}) -> Relu -> Gemm({HIDDEN}->{HIDDEN}) -> Relu -> Gemm({HIDDEN}->2)
  -> logits: float32[N, 2]   index 0 = legit, 1 = fraud
```

The normalisation is inside the graph, so the models take raw feature values.

## Input feature order

The columns of `data/fraud_test.csv` without `txn_id` and `is_fraud`, in file order:

{feats}

## Threat model used in training

From `threat_demo.toml`: the attacker may move each mutable feature by at most its budget (raw
units); every other feature is fixed. Points are clipped to the valid range of each feature,
its [min, max] over the data: during training the training split's range (below), for the PGD
figures in the table the test split's range, as `clip = "data"` with `data/fraud_test.csv`
gives.

| mutable feature | budget | training range |
| --- | --- | --- |
{budgets}
"""
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- main


def run(regimes=ORDER, robcert: Path = REPO / "target" / "release" / "robcert",
        out_dir: Path = MODELS_DIR, gradcheck=True, verbose=True):
    """Train, export and evaluate the given regimes; write models.json and README.md
    when all four were trained. Returns the list of result dicts."""
    t_all = time.time()
    if gradcheck:
        ibp_gradcheck(verbose=verbose)
    ensure_train_data(robcert)
    names, Xtr, ytr = load_csv(TRAIN_CSV)
    names_te, Xte, yte = load_csv(TEST_CSV)
    assert names == names_te, "train and test columns differ"
    mean = Xtr.mean(axis=0).astype(np.float32).astype(np.float64)
    std = np.maximum(Xtr.std(axis=0), STD_FLOOR).astype(np.float32).astype(np.float64)
    threat_train = Threat(names, Xtr)
    threat_test = Threat(names, Xte)
    if verbose:
        print(f"train: {len(ytr)} rows, {ytr.sum()} fraud; test: {len(yte)} rows, "
              f"{yte.sum()} fraud; {len(names)} features", flush=True)

    results = []
    train_seconds = 0.0
    for regime in regimes:
        p, log = train(regime, Xtr, ytr, names, mean, std, threat_train, verbose)
        train_seconds += log["seconds"]
        path = out_dir / f"fraud_mlp_{regime}.onnx"
        export_onnx(p, mean, std, names, path, regime)
        sess = ort_session(path)
        lo = ort_logits(sess, Xte)
        ref = numpy_forward_f32(p, mean, std, Xte)
        diff = np.abs(lo - ref)
        tol = 1e-5 * np.maximum(1.0, np.abs(ref))
        assert np.all(diff <= tol), f"onnxruntime and numpy differ by {diff.max():.3g}"
        pred = predict(lo)
        m = metrics(pred, yte)
        rob, nrob = pgd_robust_fraud_recall(p, sess, Xte, yte, mean, std, threat_test)
        ibp_cert = ibp_certified_fraud_recall(p, Xte, yte, mean, std, threat_test)
        gap = np.abs(lo[:, 1] - lo[:, 0]).min()
        r = {
            "file": path.name,
            "regime": regime,
            "hyperparameters": REGIMES[regime],
            "sha256": sha256(path),
            "test_accuracy": m["accuracy"],
            "test_fraud_recall": m["recall"],
            "test_fraud_precision": m["precision"],
            "test_rows": int(len(yte)),
            "test_fraud_rows": int(yte.sum()),
            "pgd_robust_fraud_recall": rob,
            "train_seconds": log["seconds"],
            "ibp_certified_fraud_recall": ibp_cert,
        }
        results.append(r)
        if verbose:
            print(f"{regime}: acc {m['accuracy']:.4f} recall {m['recall']:.4f} "
                  f"precision {m['precision']:.4f} pgd-robust recall {rob:.4f} ({nrob}/{yte.sum()}) "
                  f"ibp-certified recall {ibp_cert:.4f}; "
                  f"ort-vs-numpy max diff {diff.max():.2e}; smallest |logit gap| {gap:.2e}; "
                  f"trained in {log['seconds']:.0f}s", flush=True)

    if list(regimes) == ORDER and out_dir == MODELS_DIR:
        write_models_json(results)
        write_models_readme(results, names, threat_train, train_seconds)
        if verbose:
            print(f"wrote {MODELS_DIR / 'models.json'} and {MODELS_DIR / 'README.md'}")
    if verbose:
        print(f"total {time.time() - t_all:.0f}s")
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--robcert", default=None,
                    help="robcert binary used to generate the training split when "
                         "notebooks/.cache/fraud_train.csv is missing "
                         "(default: target/release/robcert in the repository)")
    ap.add_argument("--regimes", default=",".join(ORDER),
                    help="comma-separated subset of " + ",".join(ORDER) +
                         " (models.json and README.md are written only for all four)")
    ap.add_argument("--skip-gradcheck", action="store_true")
    a = ap.parse_args(argv)
    robcert = Path(a.robcert).resolve() if a.robcert else REPO / "target" / "release" / "robcert"
    regimes = [r for r in a.regimes.split(",") if r]
    bad = [r for r in regimes if r not in REGIMES]
    if bad:
        ap.error(f"unknown regime(s): {bad}")
    run(regimes, robcert, gradcheck=not a.skip_gradcheck)


if __name__ == "__main__":
    main()
