"""Hand-written numpy LSTM and GRU with hand-derived backpropagation through time (BPTT).

This is the speed reference of `bench/rnn.py`: what a careful person writes without autograd.
Equations and gate order are PyTorch's, so its parameters load into torch.nn.LSTM/GRU and
minigrad.nn unchanged (weight_ih (G*H, I), weight_hh (G*H, H), bias_ih, bias_hh; G = 4 or 3):

    LSTM  i, f, g, o = split(W_ih x + b_ih + W_hh h + b_hh);  i, f, o sigmoid, g tanh
          c' = f * c + i * g;  h' = o * tanh(c')
    GRU   r, z = sigmoid(W_ir x + b_ir + W_hr h + b_hr), sigmoid(W_iz x + b_iz + W_hz h + b_hz)
          n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h

Written for speed: the input projection of all steps is one matmul, each step does one matmul
forward and one backward, the gate math works in place on whole gate blocks, and backward
precomputes every factor that does not depend on the gradient flowing back in time, so the
loop only multiplies. The sequence starts from h = c = 0 and x is laid out (T, B, I).
"""

from __future__ import annotations

import numpy as np

Params = dict[str, np.ndarray]  # PARAM_NAMES -> arrays (gradients also have "x")
PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
GATES = {"lstm": 4, "gru": 3}


def init_params(kind: str, input_size: int, hidden_size: int, dtype=np.float64, seed=0) -> Params:
    """PyTorch's default initialisation: every parameter uniform in ±1/sqrt(hidden_size)."""
    rng = np.random.default_rng(seed)
    rows = GATES[kind] * hidden_size
    bound = 1 / np.sqrt(hidden_size)
    shapes = {
        "weight_ih": (rows, input_size),
        "weight_hh": (rows, hidden_size),
        "bias_ih": (rows,),
        "bias_hh": (rows,),
    }
    return {name: rng.uniform(-bound, bound, shape).astype(dtype) for name, shape in shapes.items()}


def _halve_sigmoid_rows(kind: str, params: Params) -> Params:
    """Copies of the parameters with the rows of the sigmoid gates halved, for the forward pass.

    sigmoid(a) = 0.5 + 0.5 tanh(a / 2): with those rows halved, one tanh over a whole block of
    gates gives tanh(a / 2) for the sigmoid gates and tanh(a) for the others (LSTM g, GRU n).
    Backward uses the true parameters: only the activations reach it.
    """
    hidden = params["weight_hh"].shape[1]
    scale = np.ones(GATES[kind] * hidden, params["weight_hh"].dtype)
    scale[: 2 * hidden] = 0.5  # LSTM i, f; GRU r, z
    if kind == "lstm":
        scale[3 * hidden :] = 0.5  # LSTM o
    return {
        name: value * (scale[:, None] if value.ndim == 2 else scale)
        for name, value in params.items()
    }


def _tanh_to_sigmoid(kind: str, hidden: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Row vectors (scale, shift) turning tanh(a/2) into sigmoid(a) and leaving tanh gates alone."""
    size = 4 * hidden if kind == "lstm" else 2 * hidden  # GRU: only the r, z block is converted
    scale, shift = np.full(size, 0.5, dtype), np.full(size, 0.5, dtype)
    if kind == "lstm":
        scale[2 * hidden : 3 * hidden], shift[2 * hidden : 3 * hidden] = 1, 0  # g stays tanh
    return scale, shift


def _product(first: np.ndarray, *rest: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The elementwise product of the arrays, accumulated in `out` without temporaries."""
    out = np.multiply(first, rest[0], out=out)
    for factor in rest[1:]:
        out *= factor
    return out


def _input_projection(params: Params, x: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """W_ih x_t + bias for every step at once: one (T*B, I) @ (I, G*H) matmul."""
    steps, batch, inputs = x.shape
    projected = x.reshape(steps * batch, inputs) @ params["weight_ih"].T
    projected += bias
    return projected.reshape(steps, batch, -1)


def _weight_grads(
    params: Params, x: np.ndarray, h_prev: np.ndarray, d_xw: np.ndarray, d_hw: np.ndarray
) -> dict[str, np.ndarray]:
    """Gradients of the weights, biases and x from the gate gradients of all steps (4 matmuls).

    d_xw, d_hw: (T, B, G*H) gradients of W_ih x_t + b_ih and of W_hh h_{t-1} + b_hh.
    """
    steps, batch, inputs = x.shape
    d_xw = d_xw.reshape(steps * batch, -1)
    d_hw = d_hw.reshape(steps * batch, -1)
    return {
        "weight_ih": d_xw.T @ x.reshape(steps * batch, inputs),
        "weight_hh": d_hw.T @ h_prev.reshape(steps * batch, -1),
        "bias_ih": d_xw.sum(axis=0),
        "bias_hh": d_hw.sum(axis=0),
        "x": (d_xw @ params["weight_ih"]).reshape(x.shape),
    }


# --- LSTM ------------------------------------------------------------------------------------


def lstm_forward(params: Params, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run the sequence; return h_T and the activation cache that backward needs."""
    steps, batch, _ = x.shape
    hidden = params["weight_hh"].shape[1]
    halved = _halve_sigmoid_rows("lstm", params)
    scale, shift = _tanh_to_sigmoid("lstm", hidden, x.dtype)
    gates = _input_projection(halved, x, halved["bias_ih"] + halved["bias_hh"])  # (T, B, 4H)
    h = np.zeros((steps + 1, batch, hidden), x.dtype)  # h[t] is the state before step t
    c = np.zeros((steps + 1, batch, hidden), x.dtype)
    tanh_c = np.empty((steps, batch, hidden), x.dtype)
    w_hh_t = np.ascontiguousarray(halved["weight_hh"].T)  # BLAS is faster on it than on a view
    for t in range(steps):
        a = gates[t]  # pre-activations (sigmoid gates halved), made activations in place
        a += h[t] @ w_hh_t
        np.tanh(a, out=a)
        a *= scale
        a += shift
        i, f, g, o = (a[:, k * hidden : (k + 1) * hidden] for k in range(4))
        np.multiply(f, c[t], out=c[t + 1])
        c[t + 1] += i * g
        np.tanh(c[t + 1], out=tanh_c[t])
        np.multiply(o, tanh_c[t], out=h[t + 1])
    cache = {"x": x, "gates": gates, "c": c, "h": h, "tanh_c": tanh_c}
    return h[steps], cache


def lstm_backward(params: Params, cache: dict[str, np.ndarray], d_h_last: np.ndarray) -> Params:
    """Gradients of all parameters and of x, given d loss / d h_T (and d loss / d c_T = 0)."""
    x, c, tanh_c = cache["x"], cache["c"], cache["tanh_c"]
    steps, batch, hidden = tanh_c.shape
    i, f, g, o = np.moveaxis(cache["gates"].reshape(steps, batch, 4, hidden), 2, 0)
    # d pre-activation = (gradient flowing in) * (local factor); the factors, for all steps:
    # i, f, g are reached through c: d_c * [g i(1-i), c_prev f(1-f), i (1-g^2)]
    c_factors = np.empty((steps, batch, 3, hidden), x.dtype)
    _product(g, i, 1 - i, out=c_factors[:, :, 0])
    _product(c[:-1], f, 1 - f, out=c_factors[:, :, 1])
    _product(i, 1 - g * g, out=c_factors[:, :, 2])
    o_factor = _product(tanh_c, o, 1 - o)  # o is reached through h: d_h * tanh(c) o(1-o)
    h_to_c = _product(o, 1 - tanh_c * tanh_c)  # d_c += d_h * o (1 - tanh(c)^2)

    d_gates = np.empty((steps, batch, 4, hidden), x.dtype)
    d_h = np.array(d_h_last, dtype=x.dtype)
    d_c = np.zeros((batch, hidden), x.dtype)
    w_hh = params["weight_hh"]
    for t in reversed(range(steps)):
        d_c += d_h * h_to_c[t]
        np.multiply(d_c[:, None, :], c_factors[t], out=d_gates[t, :, :3])
        np.multiply(d_h, o_factor[t], out=d_gates[t, :, 3])
        d_c *= f[t]
        d_h = d_gates[t].reshape(batch, 4 * hidden) @ w_hh
    return _weight_grads(params, x, cache["h"][:-1], d_gates, d_gates)


# --- GRU -------------------------------------------------------------------------------------


def gru_forward(params: Params, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run the sequence; return h_T and the activation cache that backward needs."""
    steps, batch, _ = x.shape
    hidden = params["weight_hh"].shape[1]
    halved = _halve_sigmoid_rows("gru", params)
    scale, shift = _tanh_to_sigmoid("gru", hidden, x.dtype)
    xw = _input_projection(halved, x, halved["bias_ih"])  # (T, B, 3H)
    hw = np.empty_like(xw)  # W_hh h + b_hh of every step; its n part is needed for d r
    rz = np.empty((steps, batch, 2 * hidden), x.dtype)  # r and z, side by side
    n = np.empty((steps, batch, hidden), x.dtype)
    h = np.zeros((steps + 1, batch, hidden), x.dtype)
    w_hh_t, b_hh = np.ascontiguousarray(halved["weight_hh"].T), halved["bias_hh"]
    for t in range(steps):
        np.matmul(h[t], w_hh_t, out=hw[t])
        hw[t] += b_hh
        np.add(xw[t, :, : 2 * hidden], hw[t, :, : 2 * hidden], out=rz[t])
        np.tanh(rz[t], out=rz[t])
        rz[t] *= scale
        rz[t] += shift
        np.multiply(rz[t, :, :hidden], hw[t, :, 2 * hidden :], out=n[t])
        n[t] += xw[t, :, 2 * hidden :]
        np.tanh(n[t], out=n[t])
        np.subtract(h[t], n[t], out=h[t + 1])  # h' = n + z (h - n)
        h[t + 1] *= rz[t, :, hidden:]
        h[t + 1] += n[t]
    return h[steps], {"x": x, "rz": rz, "n": n, "hw": hw, "h": h}


def gru_backward(params: Params, cache: dict[str, np.ndarray], d_h_last: np.ndarray) -> Params:
    """Gradients of all parameters and of x, given d loss / d h_T."""
    x, n, h = cache["x"], cache["n"], cache["h"]
    steps, batch, hidden = n.shape
    hn = cache["hw"][..., 2 * hidden :]  # W_hn h + b_hn
    r, z = cache["rz"][..., :hidden], cache["rz"][..., hidden:]
    # Every gate gradient at step t is d_h (into h_{t+1}) times a factor known from forward:
    x_factors = np.empty((steps, batch, 3, hidden), x.dtype)  # for W_ih x + b_ih: r, z, n
    n_factor = _product(1 - z, 1 - n * n, out=x_factors[:, :, 2])  # d pre-activation of n
    _product(n_factor, hn, r, 1 - r, out=x_factors[:, :, 0])
    _product(h[:-1] - n, z, 1 - z, out=x_factors[:, :, 1])
    h_factors = x_factors.copy()  # for W_hh h + b_hh: the same, but n's part goes through r
    h_factors[:, :, 2] *= r

    d_hw = np.empty((steps, batch, 3, hidden), x.dtype)
    d_hs = np.empty((steps, batch, hidden), x.dtype)  # d loss / d h_{t+1}, kept for d_xw
    d_h = np.array(d_h_last, dtype=x.dtype)
    w_hh = params["weight_hh"]
    for t in reversed(range(steps)):
        d_hs[t] = d_h
        np.multiply(d_h[:, None, :], h_factors[t], out=d_hw[t])
        d_h = d_h * z[t]
        d_h += d_hw[t].reshape(batch, 3 * hidden) @ w_hh
    d_xw = d_hs[:, :, None, :] * x_factors
    return _weight_grads(params, x, h[:-1], d_xw, d_hw)


# --- One training step -----------------------------------------------------------------------

FORWARD = {"lstm": lstm_forward, "gru": gru_forward}
BACKWARD = {"lstm": lstm_backward, "gru": gru_backward}


def training_step(kind: str, params: Params, x: np.ndarray, r: np.ndarray) -> Params:
    """Forward over the sequence, loss = sum(h_T * r), backward: the gradients of the loss."""
    _, cache = FORWARD[kind](params, x)
    return BACKWARD[kind](params, cache, r)


def loss(kind: str, params: Params, x: np.ndarray, r: np.ndarray) -> float:
    """sum(h_T * r): the value whose gradients `training_step` returns."""
    h_last, _ = FORWARD[kind](params, x)
    return float(np.sum(h_last * r))


def cache_bytes(kind: str, params: Params, x: np.ndarray) -> int:
    """Bytes of the activation cache kept between forward and backward (x itself excluded)."""
    _, cache = FORWARD[kind](params, x)
    return sum(array.nbytes for name, array in cache.items() if name != "x")
