"""convmm.nn: finite-difference gradients of every layer, agreement with PyTorch (layers,
initialisers, a whole training run's first steps), the digits example, and argument errors."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import convmm
from convmm import nn
from convmm._errors import ConvmmTypeError, ConvmmValueError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

import time_digits  # noqa: E402
import train_digits  # noqa: E402

F64 = np.float64


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---- finite differences ---------------------------------------------------------------------


def _numeric(f: Callable[[], float], array: np.ndarray, index: tuple[int, ...]) -> float:
    eps = 1e-6
    keep = array[index]
    array[index] = keep + eps
    up = f()
    array[index] = keep - eps
    down = f()
    array[index] = keep
    return (up - down) / (2 * eps)


def check_gradients(layer: nn.Layer, x: np.ndarray, samples: int = 25) -> None:
    """The layer's input and parameter gradients equal central differences of <forward(x), g>."""
    x = x.copy()
    g = rng(99).standard_normal(layer.forward(x).shape)
    gx = layer.backward(g)
    grads = {name: value.copy() for name, value in layer.grads.items()}
    assert set(grads) == set(layer.params)

    def loss() -> float:
        return float(np.sum(layer.forward(x) * g))

    picks = rng(7)
    for name, array, analytic in [("x", x, gx)] + [
        (k, layer.params[k], grads[k]) for k in layer.params
    ]:
        assert analytic.shape == array.shape, name
        flat = picks.choice(array.size, size=min(samples, array.size), replace=False)
        for i in flat:
            index = np.unravel_index(i, array.shape)
            expected = _numeric(loss, array, index)
            assert analytic[index] == pytest.approx(expected, rel=1e-5, abs=1e-7), (name, index)


CONV_CASES: list[tuple[dict[str, Any], tuple[int, ...]]] = [
    (
        {
            "in_channels": 4,
            "out_channels": 6,
            "kernel_size": (3,),
            "stride": 2,
            "padding": 2,
            "dilation": 2,
            "groups": 2,
            "padding_mode": "reflect",
        },
        (2, 4, 11),
    ),
    (
        {
            "in_channels": 3,
            "out_channels": 4,
            "kernel_size": (3, 2),
            "stride": (2, 1),
            "padding": "same",
            "dilation": (1, 2),
            "padding_mode": "circular",
        },
        (2, 3, 7, 6),
    ),
    (
        {
            "in_channels": 2,
            "out_channels": 4,
            "kernel_size": (3, 3),
            "padding": ((1, 0), (2, 1)),
            "bias": False,
        },
        (1, 2, 5, 5),
    ),
    (
        {
            "in_channels": 3,
            "out_channels": 3,
            "kernel_size": 2,
            "ndim": 3,
            "padding": 1,
            "groups": 3,
            "padding_mode": "replicate",
        },
        (2, 3, 3, 4, 3),
    ),
]


@pytest.mark.parametrize(("options", "shape"), CONV_CASES)
def test_conv_gradients(options: dict[str, Any], shape: tuple[int, ...]) -> None:
    layer = nn.Conv(**options, rng=rng(), dtype=F64)
    check_gradients(layer, rng(1).standard_normal(shape))


@pytest.mark.parametrize(
    ("options", "shape"),
    [
        (
            {
                "in_channels": 4,
                "out_channels": 2,
                "kernel_size": (3,),
                "stride": 2,
                "padding": 1,
                "output_padding": 1,
                "groups": 2,
            },
            (2, 4, 5),
        ),
        (
            {
                "in_channels": 2,
                "out_channels": 3,
                "kernel_size": (2, 3),
                "stride": (2, 1),
                "dilation": (1, 2),
                "padding": (0, 1),
            },
            (1, 2, 3, 4),
        ),
        (
            {
                "in_channels": 2,
                "out_channels": 2,
                "kernel_size": 2,
                "ndim": 3,
                "stride": 2,
                "bias": False,
            },
            (1, 2, 2, 2, 2),
        ),
    ],
)
def test_conv_transpose_gradients(options: dict[str, Any], shape: tuple[int, ...]) -> None:
    layer = nn.ConvTranspose(**options, rng=rng(), dtype=F64)
    check_gradients(layer, rng(1).standard_normal(shape))


POOL_CASES: list[tuple[nn.Layer, tuple[int, ...]]] = [
    (nn.MaxPool((3,), stride=2, padding=1, dilation=2), (2, 3, 12)),
    (nn.MaxPool(3, stride=2, padding=1), (2, 2, 7, 6)),
    (nn.MaxPool((2, 2, 2)), (1, 2, 4, 4, 4)),
    (nn.AvgPool((3,), stride=1, padding=1), (2, 2, 7)),
    (nn.AvgPool(3, stride=2, padding=1, count_include_pad=False), (2, 2, 7, 6)),
    (nn.AvgPool(2, padding=1), (1, 2, 5, 4)),
    (nn.AvgPool((2, 3, 2), stride=(1, 2, 2)), (1, 2, 3, 5, 4)),
]


@pytest.mark.parametrize(("layer", "shape"), POOL_CASES)
def test_pool_gradients(layer: nn.Layer, shape: tuple[int, ...]) -> None:
    check_gradients(layer, rng(1).standard_normal(shape))


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (nn.Linear(5, 3, rng=rng(), dtype=F64), (4, 5)),
        (nn.Linear(5, 3, bias=False, rng=rng(), dtype=F64), (4, 5)),
        (nn.ReLU(), (3, 4, 5)),
        (nn.Flatten(), (3, 2, 2, 2)),
        (
            nn.Sequential(
                nn.Conv(2, 3, 3, padding=1, rng=rng(), dtype=F64),
                nn.ReLU(),
                nn.MaxPool(2),
                nn.Flatten(),
                nn.Linear(12, 2, rng=rng(), dtype=F64),
            ),
            (2, 2, 4, 4),
        ),
    ],
)
def test_other_gradients(layer: nn.Layer, shape: tuple[int, ...]) -> None:
    check_gradients(layer, rng(1).standard_normal(shape))


def test_softmax_cross_entropy_gradient() -> None:
    logits = rng(1).standard_normal((5, 4)) * 3
    labels = np.array([0, 3, 1, 1, 2])
    _, grad = nn.softmax_cross_entropy(logits, labels)
    for index in np.ndindex(logits.shape):
        expected = _numeric(lambda: nn.softmax_cross_entropy(logits, labels)[0], logits, index)
        assert grad[index] == pytest.approx(expected, rel=1e-6, abs=1e-9)


# ---- against PyTorch ------------------------------------------------------------------------


def _torch_check(layer: nn.Layer, module: torch.nn.Module, x: np.ndarray) -> None:
    """Copy ``layer``'s parameters into ``module``; outputs and all gradients must agree."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.from_numpy(layer.params[name]))
    g = rng(5).standard_normal(layer.forward(x).shape)
    y = layer.forward(x)
    gx = layer.backward(g)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    yt = module(xt)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, p in module.named_parameters():
        np.testing.assert_allclose(layer.grads[name], p.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("layer", "module", "shape"),
    [
        (
            nn.Conv(
                4,
                6,
                (3,),
                stride=2,
                padding=2,
                dilation=2,
                groups=2,
                padding_mode="reflect",
                rng=rng(),
                dtype=F64,
            ),
            torch.nn.Conv1d(
                4, 6, 3, stride=2, padding=2, dilation=2, groups=2, padding_mode="reflect"
            ),
            (2, 4, 11),
        ),
        (
            nn.Conv(
                3,
                4,
                (3, 2),
                padding="same",
                dilation=(1, 2),
                padding_mode="circular",
                rng=rng(),
                dtype=F64,
            ),
            torch.nn.Conv2d(3, 4, (3, 2), padding="same", dilation=(1, 2), padding_mode="circular"),
            (2, 3, 7, 6),
        ),
        (
            nn.Conv(
                3,
                6,
                2,
                ndim=3,
                padding=1,
                groups=3,
                bias=False,
                padding_mode="replicate",
                rng=rng(),
                dtype=F64,
            ),
            torch.nn.Conv3d(3, 6, 2, padding=1, groups=3, bias=False, padding_mode="replicate"),
            (2, 3, 3, 4, 3),
        ),
        (
            nn.ConvTranspose(
                4, 2, (3, 2), stride=2, padding=1, output_padding=1, groups=2, rng=rng(), dtype=F64
            ),
            torch.nn.ConvTranspose2d(4, 2, (3, 2), stride=2, padding=1, output_padding=1, groups=2),
            (2, 4, 3, 4),
        ),
        (
            nn.ConvTranspose(2, 3, (3,), dilation=2, rng=rng(), dtype=F64),
            torch.nn.ConvTranspose1d(2, 3, 3, dilation=2),
            (2, 2, 5),
        ),
        (
            nn.MaxPool((3,), stride=2, padding=1, dilation=2),
            torch.nn.MaxPool1d(3, stride=2, padding=1, dilation=2),
            (2, 3, 12),
        ),
        (nn.MaxPool(3, stride=2, padding=1), torch.nn.MaxPool2d(3, 2, 1), (2, 2, 7, 6)),
        (nn.MaxPool((2, 2, 2)), torch.nn.MaxPool3d(2), (1, 2, 4, 4, 5)),
        (nn.AvgPool(3, stride=2, padding=1), torch.nn.AvgPool2d(3, 2, 1), (2, 2, 7, 6)),
        (
            nn.AvgPool(3, stride=2, padding=1, count_include_pad=False),
            torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False),
            (2, 2, 7, 6),
        ),
        (
            nn.AvgPool((2, 3, 2), stride=(1, 2, 2)),
            torch.nn.AvgPool3d((2, 3, 2), (1, 2, 2)),
            (1, 2, 3, 5, 4),
        ),
        (nn.Linear(5, 3, rng=rng(), dtype=F64), torch.nn.Linear(5, 3), (4, 5)),
        (nn.ReLU(), torch.nn.ReLU(), (3, 4, 5)),
        (nn.Flatten(), torch.nn.Flatten(), (3, 2, 2, 2)),
    ],
)
def test_layers_match_torch(
    layer: nn.Layer, module: torch.nn.Module, shape: tuple[int, ...]
) -> None:
    _torch_check(layer, module.double(), rng(1).standard_normal(shape))


def test_loss_matches_torch() -> None:
    logits = rng(1).standard_normal((6, 5)) * 4
    labels = np.array([0, 4, 1, 1, 2, 3])
    loss, grad = nn.softmax_cross_entropy(logits, labels)
    zt = torch.from_numpy(logits.copy()).requires_grad_()
    lt = torch.nn.functional.cross_entropy(zt, torch.from_numpy(labels))
    lt.backward()
    assert loss == pytest.approx(lt.item(), rel=1e-12)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_steps_match_torch(optimizer: str) -> None:
    """The digits network in float64, 10 steps from the same weights: the same losses."""
    x, y, _, _ = train_digits.load_data()
    x = x.astype(F64)
    net = train_digits.build_network(rng(3), dtype=F64)
    model = time_digits.torch_network(net, torch.float64)
    if optimizer == "sgd":
        opt: Any = nn.SGD(net, lr=0.05, momentum=0.9, weight_decay=1e-4)
        topt: Any = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    else:
        opt = nn.Adam(net, lr=1e-3, weight_decay=1e-4)
        topt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    order = train_digits.batches(len(x), 32, 0)[:10]
    ours = time_digits.numpy_losses(net, opt, x, y, order)
    theirs = time_digits.torch_losses(model, topt, x, y, order)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    assert ours[-1] < ours[0]


# ---- initialisers ---------------------------------------------------------------------------

SHAPES = [(7, 3), (16, 4, 3), (32, 16, 3, 3), (8, 2, 3, 2, 4), (4, 8 // 2, 3, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_match_torch(shape: tuple[int, ...]) -> None:
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert nn.fan_in_and_fan_out(shape) == expected


@pytest.mark.parametrize(
    ("name", "slope"),
    [
        ("relu", 0.01),
        ("leaky_relu", 0.2),
        ("leaky_relu", 0.01),
        ("tanh", 0),
        ("linear", 0),
        ("conv2d", 0),
        ("conv_transpose3d", 0),
        ("sigmoid", 0),
        ("selu", 0),
    ],
)
def test_gain_matches_torch(name: str, slope: float) -> None:
    assert nn.calculate_gain(name, slope) == pytest.approx(
        torch.nn.init.calculate_gain(name, slope)
    )


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize(("nonlinearity", "slope"), [("relu", 0.0), ("leaky_relu", 0.3)])
def test_kaiming_std(mode: str, nonlinearity: str, slope: float) -> None:
    shape = (128, 64, 3, 3)  # a transposed convolution's weight gets the same fans
    fan = 64 * 9 if mode == "fan_in" else 128 * 9
    std = (
        math.sqrt(2 / (1 + slope**2)) / math.sqrt(fan)
        if nonlinearity == "leaky_relu"
        else (math.sqrt(2 / fan))
    )
    options = {"mode": mode, "nonlinearity": nonlinearity, "negative_slope": slope}
    normal = nn.kaiming_normal(shape, rng(), **options)  # type: ignore[arg-type]
    uniform = nn.kaiming_uniform(shape, rng(), **options)  # type: ignore[arg-type]
    assert normal.std() == pytest.approx(std, rel=0.02)
    assert abs(normal.mean()) < 0.02 * std
    assert uniform.std() == pytest.approx(std, rel=0.02)
    assert np.abs(uniform).max() <= math.sqrt(3) * std
    t = torch.empty(shape, dtype=torch.float64)
    torch.nn.init.kaiming_normal_(t, a=slope, mode=mode, nonlinearity=nonlinearity)
    assert float(t.std()) == pytest.approx(std, rel=0.02)


def test_xavier_std() -> None:
    shape = (64, 32, 5, 5)
    std = 1.5 * math.sqrt(2 / ((32 + 64) * 25))
    assert nn.xavier_normal(shape, rng(), gain=1.5).std() == pytest.approx(std, rel=0.02)
    uniform = nn.xavier_uniform(shape, rng(), gain=1.5, dtype=np.float32)
    assert uniform.dtype == np.float32
    assert uniform.std() == pytest.approx(std, rel=0.02)
    assert np.abs(uniform).max() <= math.sqrt(3) * std * (1 + 1e-6)


def test_default_init_matches_torch_bounds() -> None:
    conv = nn.Conv(6, 8, (3, 3), groups=2, rng=rng())
    bound = 1 / math.sqrt(3 * 9)
    assert np.abs(conv.params["weight"]).max() <= bound
    assert np.abs(conv.params["weight"]).max() > 0.9 * bound
    assert np.abs(conv.params["bias"]).max() <= bound
    up = nn.ConvTranspose(6, 8, (3, 3), groups=2, rng=rng())  # fan_in = 8/2 * 9, as PyTorch
    assert np.abs(up.params["weight"]).max() <= 1 / math.sqrt(4 * 9)
    assert np.abs(up.params["weight"]).max() > 0.9 / math.sqrt(4 * 9)


# ---- the digits example ---------------------------------------------------------------------


def test_training_loss_decreases() -> None:
    _, history = train_digits.train(2, progress=False)
    assert history.loss[1] < history.loss[0]
    assert history.step_losses[-1] < history.step_losses[0] / 2
    assert history.test_accuracy[-1] > 0.85


def test_example_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train_digits.main(["--epochs", "1", "--plot", str(tmp_path)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"test accuracy: \d{1,3}\.\d%", lines[-1])
    assert lines[0].startswith("epoch  1/1 [")
    assert (tmp_path / "digits-training.png").stat().st_size > 1000


# ---- argument errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda: nn.Conv(3, 4, 3, groups=2, rng=rng()),
            ConvmmValueError,
            r"convmm.nn.Conv: in_channels and out_channels must be divisible by groups; "
            r"got in_channels=3, out_channels=4, groups=2",
        ),
        (
            lambda: nn.Conv(3, 4, 0, rng=rng()),
            ConvmmValueError,
            r"convmm.nn.Conv: kernel_size must be a positive int; got 0",
        ),
        (
            lambda: nn.Conv(3, 4, 3, rng=0),
            ConvmmTypeError,
            r"convmm.nn.Conv: rng must be a numpy.random.Generator .*; got int",
        ),
        (
            lambda: nn.Conv(3, 4, 3, padding_mode="mirror", rng=rng()),
            ConvmmValueError,
            r"padding_mode must be one of \('zeros', 'reflect', 'replicate', 'circular'\); "
            r"got 'mirror'",
        ),
        (
            lambda: nn.Conv(3, 4, 3, dtype=np.int32, rng=rng()),
            ConvmmTypeError,
            r"dtype must be float32 or float64",
        ),
        (
            lambda: nn.Linear(3, 4.0, rng=rng()),
            ConvmmTypeError,  # type: ignore[arg-type]
            r"convmm.nn.Linear: out_features must be an int; got float",
        ),
        (
            lambda: nn.MaxPool((2, 0)),
            ConvmmValueError,
            r"convmm.nn.MaxPool: kernel_size must be a positive int; got 0",
        ),
        (
            lambda: nn.MaxPool(2, padding=2).forward(np.zeros((1, 1, 8, 8))),
            ConvmmValueError,
            r"padding must be at most half of kernel_size",
        ),
        (
            lambda: nn.AvgPool((2, 2)).forward(np.zeros((1, 1, 8))),
            ConvmmValueError,
            r"convmm.nn.AvgPool.forward: x must have 4 dims",
        ),
        (
            lambda: nn.ReLU().backward(np.zeros(3)),
            ConvmmValueError,
            r"convmm.nn.ReLU.backward: backward needs a forward first",
        ),
        (
            lambda: _pooled(nn.AvgPool(2)).backward(np.zeros((1, 1, 2, 2))),
            ConvmmValueError,
            r"convmm.nn.AvgPool.backward: grad must have the shape of the forward's output "
            r"\(2, 1, 2, 2\); got \(1, 1, 2, 2\)",
        ),
        (
            lambda: _pooled(nn.MaxPool(2)).backward(np.zeros((2, 1, 4))),
            ConvmmValueError,
            r"convmm.nn.MaxPool.backward: grad must have 4 dims",
        ),
        (
            lambda: _pooled(nn.MaxPool(2)).backward(np.zeros((2, 1, 2, 2), dtype=int)),
            ConvmmTypeError,
            r"convmm.nn.MaxPool.backward: grad must be a floating array; got dtype int64",
        ),
        (
            lambda: nn.Linear(3, 2, rng=rng()).forward(np.zeros((2, 4))),
            ConvmmValueError,
            r"x must have 3 features .*; got shape \(2, 4\)",
        ),
        (
            lambda: nn.Conv(1, 2, 3, rng=rng()).forward(np.zeros((1, 8, 8))),
            ConvmmValueError,
            r"convmm.nn.Conv.forward: x must have 4 dims .*; got shape \(1, 8, 8\)",
        ),
        (
            lambda: nn.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3])),
            ConvmmValueError,
            r"labels must lie in \[0, 3\); got 0..3",
        ),
        (
            lambda: nn.softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0])),
            ConvmmValueError,
            r"labels must be ints of shape \(2,\)",
        ),
        (lambda: nn.SGD(nn.ReLU(), lr=-1), ConvmmValueError, r"convmm.nn.SGD: lr must be >= 0"),
        (
            lambda: nn.Adam(nn.ReLU(), betas=(0.9, 1.0)),
            ConvmmValueError,
            r"convmm.nn.Adam: betas\[1\] must be >= 0 and below 1.0; got 1.0",
        ),
        (
            lambda: nn.Sequential(nn.ReLU(), "relu"),
            ConvmmTypeError,  # type: ignore[arg-type]
            r"convmm.nn.Sequential: layer 1 must be a convmm.nn.Layer; got str",
        ),
        (
            lambda: nn.kaiming_normal((3, 4), rng(), mode="fan"),
            ConvmmValueError,
            r"convmm.nn.kaiming_normal: mode must be one of \('fan_in', 'fan_out'\); got 'fan'",
        ),
        (
            lambda: nn.kaiming_uniform((3, 4), rng(), nonlinearity="gelu"),
            ConvmmValueError,
            r"nonlinearity must be one of .*; got 'gelu'",
        ),
        (
            lambda: nn.xavier_normal((3, 4), np.random.RandomState(0)),
            ConvmmTypeError,
            r"convmm.nn.xavier_normal: rng must be a numpy.random.Generator",
        ),
        (
            lambda: nn.fan_in_and_fan_out((5,)),
            ConvmmValueError,
            r"shape must have at least 2 dims \(out, in, ...\); got \(5,\)",
        ),
        (lambda: nn.kaiming_normal((3, 0), rng()), ConvmmValueError, r"has a zero fan_in"),
    ],
)
def test_bad_arguments(make: Callable[[], object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(
    "layer",
    [
        nn.Conv(2, 3, 3, padding=1, stride=2, rng=rng(), dtype=F64),
        nn.ConvTranspose(2, 3, 3, stride=2, rng=rng(), dtype=F64),
        nn.Linear(2 * 5 * 5, 3, rng=rng(), dtype=F64),
        nn.Conv(2, 3, 3, bias=False, rng=rng(), dtype=F64),
    ],
)
def test_parameter_backward_stores_the_same_gradients(layer: nn.Layer) -> None:
    """``parameter_backward`` (a first layer's: no input gradient) stores what ``backward``
    does, and ``Sequential.backward(input_grad=False)`` returns None with the same grads."""
    x = rng(1).standard_normal((2, 50) if isinstance(layer, nn.Linear) else (2, 2, 5, 5))
    g = rng(2).standard_normal(layer.forward(x).shape)
    layer.backward(g)
    full = {k: v.copy() for k, v in layer.grads.items()}
    layer.grads.clear()
    layer.parameter_backward(g)
    assert sorted(layer.grads) == sorted(full)
    for name, value in full.items():
        np.testing.assert_allclose(layer.grads[name], value, rtol=1e-12, atol=1e-12)
    net = nn.Sequential(layer, nn.ReLU())
    out = net.forward(x)
    assert net.backward(np.ones_like(out), input_grad=False) is None
    with_input = {k: v.copy() for k, v in net.grads.items()}
    dx = net.backward(np.ones_like(out))
    assert dx.shape == x.shape
    for name, value in with_input.items():
        np.testing.assert_allclose(net.grads[name], value, rtol=1e-12, atol=1e-12)


def _pooled(pool: nn.Layer) -> nn.Layer:
    """``pool`` after a forward pass over a ``(2, 1, 4, 4)`` batch."""
    pool.forward(np.zeros((2, 1, 4, 4)))
    return pool


@st.composite
def pool_cases(
    draw: st.DrawFn,
) -> tuple[int, tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(rank, kernel, stride, padding, dilation) of a 1-3-D pool."""
    nd = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    return nd, kernel, stride, padding, dilation


def _columns(
    x: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]
) -> np.ndarray:
    """The windows as ``convmm.unfold``'s columns: ``(N, C, prod(kernel), L)``."""
    cols = convmm.unfold(x, kernel, stride=stride, dilation=dilation)
    return cols.reshape(x.shape[0], x.shape[1], -1, cols.shape[-1])


def _pool_input(r: np.random.Generator, shape: tuple[int, ...], values: str) -> np.ndarray:
    x = r.standard_normal(shape)
    if values == "ties":  # ReLU's zeros: many windows hold equal maxima
        x = r.integers(0, 3, shape).astype(F64)
    elif values == "nan":
        x[r.random(shape) < 0.2] = np.nan
    elif values == "-inf":  # windows whose every input cell is -inf, beside the padding
        x[r.random(shape) < 0.6] = -np.inf
    return x


@settings(max_examples=60, deadline=None)
@given(
    case=pool_cases(),
    values=st.sampled_from(["normal", "ties", "nan", "-inf"]),
    count_include_pad=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_pools_reduce_the_columns_of_unfold(
    case: tuple[int, tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]],
    values: str,
    count_include_pad: bool,
    seed: int,
) -> None:
    """MaxPool is the max down the columns of ``convmm.unfold`` (the padding as -inf), AvgPool
    the mean (zero padding), and both match PyTorch forward and backward: on ties the first
    maximum of a window takes the gradient, on NaNs the last NaN, and a window whose input
    cells are all -inf gives it to its first input cell, never to the padding."""
    nd, kernel, stride, padding, dilation = case
    r = np.random.default_rng(seed)
    shape = (
        2,
        3,
        *(
            int(r.integers(d * (k - 1) + 1, d * (k - 1) + 5))
            for k, d in zip(kernel, dilation, strict=True)
        ),
    )
    x = _pool_input(r, shape, values)
    pads = [(0, 0), (0, 0), *((p, p) for p in padding)]
    out_shape = tuple(
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, s, p, d in zip(shape[2:], kernel, stride, padding, dilation, strict=True)
    )
    functional = torch.nn.functional
    g = r.standard_normal((2, 3, *out_shape))
    pool = nn.MaxPool(kernel, stride=stride, padding=padding, dilation=dilation)
    cols = _columns(np.pad(x, pads, constant_values=-np.inf), kernel, stride, dilation)
    np.testing.assert_array_equal(pool.forward(x), cols.max(axis=2).reshape(2, 3, *out_shape))
    xt = torch.from_numpy(x.copy()).requires_grad_()
    torch_pool = {1: functional.max_pool1d, 2: functional.max_pool2d, 3: functional.max_pool3d}
    yt = torch_pool[nd](xt, kernel, stride, padding, dilation)
    np.testing.assert_array_equal(pool.forward(x), yt.detach().numpy())
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(pool.backward(g), xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    if values in ("nan", "-inf"):
        return
    out_shape = tuple(
        (n + 2 * p - k) // s + 1
        for n, k, s, p in zip(shape[2:], kernel, stride, padding, strict=True)
    )
    g = r.standard_normal((2, 3, *out_shape))
    mean = nn.AvgPool(kernel, stride=stride, padding=padding, count_include_pad=count_include_pad)
    if count_include_pad:
        cols = _columns(np.pad(x, pads), kernel, stride, (1,) * nd)
        means = cols.mean(axis=2).reshape(2, 3, *out_shape)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    torch_mean = {1: functional.avg_pool1d, 2: functional.avg_pool2d, 3: functional.avg_pool3d}
    yt = torch_mean[nd](xt, kernel, stride, padding, count_include_pad=count_include_pad)
    got = mean.forward(x)
    np.testing.assert_allclose(got, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    if count_include_pad:
        np.testing.assert_allclose(got, means, rtol=1e-12, atol=1e-12)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(mean.backward(g), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_sequential_without_input_grad_stops_at_the_first_parameters() -> None:
    """Layers before the first one with parameters are not run backward, nor is that layer's
    input gradient computed (through a nested Sequential too); the gradients are the same."""
    conv = nn.Conv(2, 3, 3, padding=1, rng=rng(), dtype=F64)
    net = nn.Sequential(
        nn.ReLU(), nn.Sequential(conv, nn.ReLU()), nn.Flatten(), nn.Linear(75, 2, rng=rng())
    )
    x = rng(1).standard_normal((2, 2, 5, 5))
    g = rng(2).standard_normal(net.forward(x).shape)
    net.backward(g)
    full = {k: v.copy() for k, v in net.grads.items()}

    def refuse(grad: Any) -> np.ndarray:
        raise AssertionError("backward was not meant to run")

    net.layers[0].backward = refuse  # type: ignore[method-assign]
    conv.backward = refuse  # type: ignore[method-assign]
    assert net.backward(g, input_grad=False) is None
    assert sorted(net.grads) == sorted(full)
    for name, value in full.items():
        np.testing.assert_allclose(net.grads[name], value, rtol=1e-12, atol=1e-12)
    assert nn.Sequential(nn.ReLU(), nn.Flatten()).backward(g, input_grad=False) is None
