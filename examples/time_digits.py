"""Time one training epoch of the digits CNN: ``convmm.nn`` (NumPy) against the same network
in PyTorch.

Both start from the same initial weights (the NumPy network's, copied into PyTorch), see the
same batches in the same order and use Adam with the same settings, on 2 threads each
(``torch.set_num_threads(2)``; NumPy's BLAS through threadpoolctl when installed).  The epochs
are interleaved, ``--repeats`` times, each from the initial weights; it prints the median
seconds per epoch of each, their ratio, and both epochs' mean losses (which agree to float32
rounding).

    python examples/time_digits.py --repeats 5

Needs the examples extra and PyTorch (``pip install 'convmm[examples]' torch``).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from typing import Any

import numpy as np
import torch
from train_digits import BATCH_SIZE, LEARNING_RATE, SEED, batches, build_network, load_data

from convmm import nn

THREADS = 2


def torch_network(net: nn.Sequential, dtype: torch.dtype = torch.float32) -> torch.nn.Sequential:
    """The PyTorch twin of :func:`train_digits.build_network`, with ``net``'s weights."""
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(64 * 2 * 2, 10),
    ).to(dtype)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.from_numpy(net.params[name].copy()))
    return model


def numpy_losses(
    net: nn.Sequential, opt: Any, x: np.ndarray, y: np.ndarray, order: list[Any]
) -> list[float]:
    """Train ``net`` with ``opt`` on the batches ``order``: each step's loss."""
    losses = []
    for index in order:
        loss, grad = nn.softmax_cross_entropy(net.forward(x[index]), y[index])
        net.backward(grad, input_grad=False)
        opt.step()
        losses.append(loss)
    return losses


def torch_losses(
    model: torch.nn.Module, opt: Any, x: np.ndarray, y: np.ndarray, order: list[Any]
) -> list[float]:
    """The same for the PyTorch twin and its optimiser."""
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses = []
    for index in order:
        i = torch.from_numpy(index)
        loss = torch.nn.functional.cross_entropy(model(xt[i]), yt[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def numpy_epoch(net: nn.Sequential, x: np.ndarray, y: np.ndarray, order: list[Any]) -> float:
    return float(np.mean(numpy_losses(net, nn.Adam(net, lr=LEARNING_RATE), x, y, order)))


def torch_epoch(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, order: list[Any]) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    return float(np.mean(torch_losses(model, opt, x, y, order)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    limits: Any = contextlib.nullcontext()
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(THREADS)
    x, y, _, _ = load_data()
    order = batches(len(x), BATCH_SIZE, 0)
    times: dict[str, list[float]] = {"convmm.nn": [], "torch": []}
    losses: dict[str, float] = {}
    with limits:
        for _ in range(args.repeats):
            net = build_network(np.random.default_rng(SEED))
            model = torch_network(net)
            start = time.perf_counter()
            losses["convmm.nn"] = numpy_epoch(net, x, y, order)
            times["convmm.nn"].append(time.perf_counter() - start)
            start = time.perf_counter()
            losses["torch"] = torch_epoch(model, x, y, order)
            times["torch"].append(time.perf_counter() - start)
    median = {k: statistics.median(v) for k, v in times.items()}
    for name, seconds in median.items():
        print(f"{name:10s} median {seconds:.3f} s per epoch ({len(x)} images, batch {BATCH_SIZE}, "
              f"{THREADS} threads); epoch loss {losses[name]:.6f}")  # fmt: skip
    print(f"ratio convmm.nn / torch: {median['convmm.nn'] / median['torch']:.2f}")


if __name__ == "__main__":
    main()
