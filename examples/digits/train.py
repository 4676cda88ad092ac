"""Train the demo model: a small CNN on scikit-learn's 8×8 digits, in numpy only.

    python examples/digits/train.py            # writes digits_cnn.onnx, calib.npz, test.npz here
    python examples/digits/train.py --out DIR  # somewhere else

Network (NCHW in the ONNX file, NHWC while training): conv 3×3 (8) → ReLU → max-pool 2 →
conv 3×3 (16) → ReLU → max-pool 2 → flatten → dense (10 logits); 1,898 parameters.
Training runs in float64 with a fixed seed so that the weights do not depend on the BLAS
library's summation order beyond ~1e-12; they are rounded to float32 only when exported.
Data: ``sklearn.datasets.load_digits`` (BSD-3-Clause, shipped inside the scikit-learn wheel),
pixels 0..16 scaled to 0..1, split 80/20 with a fixed seed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
SEED = 20261122
EPOCHS = 20
BATCH = 32
LEARNING_RATE = 0.005
CALIB_SAMPLES = 200
TEST_FRACTION = 0.2
CHANNELS = (8, 16)


# ---- data -------------------------------------------------------------------------------------
def load_splits(seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): images [N, 1, 8, 8] float32 in 0..1, int64 labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = round(TEST_FRACTION * len(x))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


# ---- layers (NHWC, float64) -------------------------------------------------------------------
def im2col(x: np.ndarray) -> np.ndarray:
    """[B, H, W, C] → [B, H, W, 9·C]: each pixel's 3×3 neighbourhood (zero padded), (ky, kx, c)."""
    b, h, w, c = x.shape
    padded = np.zeros((b, h + 2, w + 2, c), x.dtype)
    padded[:, 1:-1, 1:-1] = x
    patches = [padded[:, ky : ky + h, kx : kx + w] for ky in range(3) for kx in range(3)]
    return np.concatenate(patches, axis=3)


def col2im(cols: np.ndarray, channels: int) -> np.ndarray:
    """The adjoint of im2col: scatter-add patch gradients back onto the input."""
    b, h, w, _ = cols.shape
    padded = np.zeros((b, h + 2, w + 2, channels), cols.dtype)
    for k in range(9):
        ky, kx = divmod(k, 3)
        padded[:, ky : ky + h, kx : kx + w] += cols[..., k * channels : (k + 1) * channels]
    return padded[:, 1:-1, 1:-1]


def maxpool(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2×2 max-pool; also returns the one-hot mask of each window's (first) maximum."""
    b, h, w, c = x.shape
    windows = x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4)
    windows = windows.reshape(b, h // 2, w // 2, c, 4)
    winner = windows.argmax(axis=4)
    mask = np.zeros_like(windows)
    np.put_along_axis(mask, winner[..., None], 1.0, axis=4)
    return windows.max(axis=4), mask


def unpool(grad: np.ndarray, mask: np.ndarray) -> np.ndarray:
    b, h, w, c = grad.shape
    spread = (mask * grad[..., None]).reshape(b, h, w, c, 2, 2).transpose(0, 1, 4, 2, 5, 3)
    return spread.reshape(b, 2 * h, 2 * w, c)


def init_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """He-initialised weights: conv kernels as [9·C_in, C_out], the dense layer as [64, 10]."""
    c1, c2 = CHANNELS
    flat = 2 * 2 * c2

    def he(fan_in: int, shape: tuple[int, ...]) -> np.ndarray:
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)

    return {
        "w1": he(9, (9, c1)),
        "b1": np.zeros(c1),
        "w2": he(9 * c1, (9 * c1, c2)),
        "b2": np.zeros(c2),
        "w3": he(flat, (flat, 10)),
        "b3": np.zeros(10),
    }


def forward(params: dict[str, np.ndarray], x_nchw: np.ndarray) -> tuple[np.ndarray, dict]:
    """Logits [B, 10] and what the backward pass needs."""
    x = x_nchw.transpose(0, 2, 3, 1).astype(np.float64)
    cols1 = im2col(x)
    a1 = np.maximum(cols1 @ params["w1"] + params["b1"], 0.0)
    p1, mask1 = maxpool(a1)
    cols2 = im2col(p1)
    a2 = np.maximum(cols2 @ params["w2"] + params["b2"], 0.0)
    p2, mask2 = maxpool(a2)
    flat = p2.reshape(len(x), -1)
    logits = flat @ params["w3"] + params["b3"]
    return logits, {"cols1": cols1, "a1": a1, "mask1": mask1, "cols2": cols2, "a2": a2,
                    "mask2": mask2, "p2": p2, "flat": flat}  # fmt: skip


def gradients(params, x, y) -> tuple[float, dict[str, np.ndarray]]:
    """Mean softmax cross-entropy over the batch and its gradient for every parameter."""
    logits, s = forward(params, x)
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -float(np.mean(np.log(probs[np.arange(n), y] + 1e-12)))
    d_logits = probs
    d_logits[np.arange(n), y] -= 1.0
    d_logits /= n
    grads = {"w3": s["flat"].T @ d_logits, "b3": d_logits.sum(axis=0)}
    d_a2 = unpool((d_logits @ params["w3"].T).reshape(s["p2"].shape), s["mask2"])
    d_a2 *= s["a2"] > 0
    d_a2 = d_a2.reshape(-1, d_a2.shape[3])
    grads["w2"] = s["cols2"].reshape(len(d_a2), -1).T @ d_a2
    grads["b2"] = d_a2.sum(axis=0)
    d_cols2 = (d_a2 @ params["w2"].T).reshape(s["cols2"].shape)
    d_a1 = unpool(col2im(d_cols2, CHANNELS[0]), s["mask1"])
    d_a1 *= s["a1"] > 0
    d_a1 = d_a1.reshape(-1, d_a1.shape[3])
    grads["w1"] = s["cols1"].reshape(len(d_a1), -1).T @ d_a1
    grads["b1"] = d_a1.sum(axis=0)
    return loss, grads


def train(x: np.ndarray, y: np.ndarray, seed: int = SEED, log=print) -> dict[str, np.ndarray]:
    """Adam on mini-batches; returns float64 parameters."""
    # One BLAS thread: these matrices are tiny (threads only cost time), and the summation
    # order, hence the last bits of the weights, then does not depend on the core count.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _train(x, y, seed, log)


def _train(x: np.ndarray, y: np.ndarray, seed: int, log) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = init_params(rng)
    moment1 = {k: np.zeros_like(v) for k, v in params.items()}
    moment2 = {k: np.zeros_like(v) for k, v in params.items()}
    beta1, beta2, step = 0.9, 0.999, 0
    for epoch in range(EPOCHS):
        order = rng.permutation(len(x))
        losses = []
        for start in range(0, len(x), BATCH):
            batch = order[start : start + BATCH]
            loss, grads = gradients(params, x[batch], y[batch])
            losses.append(loss)
            step += 1
            for k, g in grads.items():
                moment1[k] = beta1 * moment1[k] + (1 - beta1) * g
                moment2[k] = beta2 * moment2[k] + (1 - beta2) * g * g
                m_hat = moment1[k] / (1 - beta1**step)
                v_hat = moment2[k] / (1 - beta2**step)
                params[k] -= LEARNING_RATE * m_hat / (np.sqrt(v_hat) + 1e-8)
        if log and (epoch + 1) % 10 == 0:
            log(f"epoch {epoch + 1:3d}  loss {np.mean(losses):.4f}")
    return params


# ---- ONNX -------------------------------------------------------------------------------------
def onnx_weights(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The trained NHWC-ordered weights as ONNX (NCHW) initializers, float32."""
    c1, c2 = CHANNELS
    f32 = np.float32
    # im2col orders a kernel's rows (ky, kx, c_in); ONNX Conv wants [c_out, c_in, ky, kx].
    w1 = params["w1"].reshape(3, 3, 1, c1).transpose(3, 2, 0, 1)
    w2 = params["w2"].reshape(3, 3, c1, c2).transpose(3, 2, 0, 1)
    # Training flattens (h, w, c); ONNX Flatten of NCHW gives (c, h, w). Gemm uses transB=1.
    w3 = params["w3"].reshape(2, 2, c2, 10).transpose(3, 2, 0, 1).reshape(10, 4 * c2)
    return {
        "conv1.weight": w1.astype(f32),
        "conv1.bias": params["b1"].astype(f32),
        "conv2.weight": w2.astype(f32),
        "conv2.bias": params["b2"].astype(f32),
        "dense.weight": w3.astype(f32),
        "dense.bias": params["b3"].astype(f32),
    }


def build_onnx(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """image [1, 1, 8, 8] float → logits [1, 10], opset 13."""
    conv = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    pool = {"kernel_shape": [2, 2], "strides": [2, 2]}
    nodes = [
        helper.make_node("Conv", ["image", "conv1.weight", "conv1.bias"], ["c1"], "conv1", **conv),
        helper.make_node("Relu", ["c1"], ["r1"], "relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], "pool1", **pool),
        helper.make_node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], "conv2", **conv),
        helper.make_node("Relu", ["c2"], ["r2"], "relu2"),
        helper.make_node("MaxPool", ["r2"], ["p2"], "pool2", **pool),
        helper.make_node("Flatten", ["p2"], ["flat"], "flatten", axis=1),
        helper.make_node(
            "Gemm", ["flat", "dense.weight", "dense.bias"], ["logits"], "dense", transB=1
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "digits_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13)],
        producer_name="edgec examples/digits/train.py",
        doc_string="8x8 digit classifier (scikit-learn digits), logits for classes 0-9",
    )
    model.ir_version = 8  # readable by onnxruntime releases older than the installed onnx
    onnx.checker.check_model(model, full_check=True)
    return model


def onnxruntime_logits(model: onnx.ModelProto | str | Path, x: np.ndarray) -> np.ndarray:
    """Logits [N, 10] of the ONNX model in onnxruntime, one sample at a time (batch is 1)."""
    import onnxruntime as ort

    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"image": sample[None]})[0] for sample in x])


# ---- main -------------------------------------------------------------------------------------
def make_all(out: Path, log=print) -> dict[str, float]:
    """Train, export, check against onnxruntime, write the three files; returns accuracies."""
    x_train, y_train, x_test, y_test = load_splits()
    params = train(x_train, y_train, log=log)
    model = build_onnx(onnx_weights(params))
    numpy_logits = forward(params, x_test)[0]
    ort_logits = onnxruntime_logits(model, x_test)
    # The export (layout changes, float32 rounding) must not change the model.
    gap = float(np.max(np.abs(ort_logits - numpy_logits)))
    if gap > 1e-4 or not np.array_equal(ort_logits.argmax(1), numpy_logits.argmax(1)):
        raise SystemExit(f"ONNX export disagrees with the numpy model (max |Δ| {gap:.2e})")
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out / "digits_cnn.onnx"))
    np.savez_compressed(out / "calib.npz", x=x_train[:CALIB_SAMPLES], y=y_train[:CALIB_SAMPLES])
    np.savez_compressed(out / "test.npz", x=x_test, y=y_test)
    correct = int(np.sum(ort_logits.argmax(1) == y_test))
    train_acc = float(np.mean(forward(params, x_train)[0].argmax(1) == y_train))
    log(f"train accuracy {100 * train_acc:.2f} %  (numpy, float64)")
    log(f"test accuracy  {100 * correct / len(y_test):.2f} % ({correct}/{len(y_test)}, "
        f"onnxruntime, float32); max |numpy - onnxruntime| {gap:.1e}")  # fmt: skip
    log(f"wrote {out / 'digits_cnn.onnx'}, calib.npz ({CALIB_SAMPLES}), test.npz ({len(y_test)})")
    return {"train": train_acc, "test": correct / len(y_test)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: here)")
    make_all(parser.parse_args().out)


if __name__ == "__main__":
    main()
