"""He initialisation, made visible: activation scale through 20 conv + ReLU layers, by scheme.

Pushes a standard normal batch through a deep stack of 3x3 convolutions (convmm.conv, circular
'same' padding) and ReLUs, initialised with He, Xavier and a naive N(0, 0.01^2), and plots the
standard deviation of every layer's pre-activations (log scale) next to what the K·P variance
argument predicts:  Var(Y) = n·σ²·E[P²] with E[P²] = Var(Y_prev)/2 after a ReLU, so each layer
multiplies the variance by n·σ²/2 — 1 for He's σ² = 2/n.

    python examples/init_variance.py --plot docs/init-variance.png

Needs matplotlib for the plot (``pip install 'convmm[examples]'``).
"""

from __future__ import annotations

import argparse

from convmm._init_variance import SCHEMES, layer_factor, propagate

LABELS = {
    "he": "He: σ² = 2/n",
    "xavier": "Xavier: σ² = 2/(n_in + n_out)",
    "naive": "naive: σ = 0.01",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=20, help="conv + ReLU layers")
    parser.add_argument("--channels", type=int, default=64, help="channels (= filters) per layer")
    parser.add_argument("--plot", default="init-variance.png", help="where the plot goes")
    args = parser.parse_args()
    stats = {s: propagate(s, depth=args.depth, channels=args.channels) for s in SCHEMES}
    n = args.channels * 9
    print(f"fan-in n = {args.channels} x 3 x 3 = {n}; std of each layer's pre-activations:")
    print("layer  " + "  ".join(f"{s:>10s}" for s in SCHEMES))
    for i in range(args.depth):
        print(f"{i + 1:5d}  " + "  ".join(f"{stats[s].stds[i]:10.3g}" for s in SCHEMES))
    for s in SCHEMES:
        print(f"{s}: variance factor per layer n·σ²/2 = {layer_factor(s, n, n):.4g}")
    _plot(stats, n, args.plot)
    print(f"plot: {args.plot}")


def _plot(stats: dict, n: int, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9.5, 4.6), dpi=110)
    ax = figure.add_axes((0.08, 0.12, 0.5, 0.78))
    colors = {"he": "#1f6feb", "xavier": "#d98e04", "naive": "#c0392b"}
    for s, st in stats.items():
        layers = range(1, len(st.stds) + 1)
        ax.semilogy(layers, st.stds, "o-", color=colors[s], label=LABELS[s], markersize=3)
        ax.semilogy(layers, st.predicted(1.0), "--", color=colors[s], linewidth=0.9)
    ax.set_xlabel("layer")
    ax.set_ylabel("std of the pre-activations (log)")
    ax.set_title(f"{len(next(iter(stats.values())).stds)} conv 3×3 + ReLU layers, n = {n}")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    text = (
        "Each layer is Y = K·P, then ReLU.\n"
        "An entry of Y sums n = C_in·k² products\n"
        "K[f, j]·P[j, l], weights independent,\n"
        "mean 0, variance σ²:\n\n"
        "   Var(Y) = n · σ² · E[P²]\n\n"
        "After a ReLU of a symmetric Y,\n"
        "   E[P²] = Var(Y_prev) / 2,\n"
        "so every layer multiplies the\n"
        "variance by n·σ²/2:\n\n"
        f"   He      σ² = 2/n          → 1\n"
        f"   Xavier  σ² = 2/(n+n) = 1/n → 1/2\n"
        f"   naive   σ = 0.01          → {n * 1e-4 / 2:.3g}\n\n"
        "dashed: the prediction; solid: measured\n"
        "(He's wanders by finite-width noise,\n"
        "but neither vanishes nor explodes)"
    )
    figure.text(0.62, 0.9, text, va="top", family="monospace", fontsize=8.2)
    figure.savefig(path)


if __name__ == "__main__":
    main()
