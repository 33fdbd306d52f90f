"""The ``convmm bench`` subcommand: convmm against torch, onnxruntime, the bare GEMM and a naive
NumPy im2col, side by side (see :mod:`convmm.bench`), with a progress bar, a table, JSON and a
plot.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._cli_errors import UsageError
from ._cli_files import check_writable

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Add ``bench`` to the subcommands; its parser."""
    bench: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="measure convmm against torch, onnxruntime, the bare GEMM and a naive im2col",
        description="Time every layer of the suite with every candidate, interleaved (A B A B "
        "...), each warmed up right before its sample, medians over --rounds rounds, all "
        "libraries at the same thread count; print a table of times, ratios to torch and to the "
        "bare GEMM, GFLOP/s and peak extra memory.",
        epilog="examples:\n  convmm bench --quick\n  convmm bench --shapes resnet,depthwise "
        "--rounds 7\n  convmm bench --json results.json --plot ratios.png --markdown results.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("--quick", action="store_true", help="a small suite (about a minute)")
    bench.add_argument(
        "--shapes",
        metavar="NAMES",
        help="comma-separated parts of layer names to keep (e.g. resnet,1x1); --list shows them",
    )
    bench.add_argument("--list", action="store_true", help="list the suite's layers and stop")
    bench.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    bench.add_argument("--threads", type=int, help="threads for every library (default: cores)")
    bench.add_argument("--json", metavar="FILE", help="write the records as JSON")
    bench.add_argument("--markdown", metavar="FILE", help="write the table as Markdown")
    bench.add_argument("--plot", metavar="FILE", help="plot the ratios to torch (matplotlib)")
    bench.add_argument("--no-memory", action="store_true", help="skip the tracemalloc peaks")
    bench.add_argument(
        "--dask",
        action="store_true",
        help="instead: the out-of-core Zarr job (a filter bank over an image stack) on a "
        "LocalCluster of 1 and then 2 worker processes; throughput in MB/s of input and the "
        "scaling between them",
    )
    bench.add_argument(
        "--dask-megabytes",
        type=int,
        default=1024,
        metavar="MB",
        help="the stack's size for --dask (default 1024)",
    )
    bench.add_argument(
        "--dask-memory",
        type=int,
        default=512,
        metavar="MB",
        help="each worker's memory limit for --dask (default 512)",
    )
    return bench


def run_dask(args: argparse.Namespace) -> int:
    """``convmm bench --dask``: the out-of-core job on 1 and 2 workers, throughput and scaling."""
    import tempfile

    from ._outofcore import run_job

    if args.dask_megabytes < 1 or args.dask_memory < 1:
        raise UsageError("--dask-megabytes and --dask-memory must be positive ints")
    results = []
    for workers in (1, 2):
        with tempfile.TemporaryDirectory(prefix="convmm-bench-dask-") as path:
            result = run_job(
                path,
                input_bytes=args.dask_megabytes * 2**20,
                workers=workers,
                memory_limit=args.dask_memory * 2**20,
            )
        results.append(result)
        print(
            f"{workers} worker{'s' if workers > 1 else ' '} x {args.dask_memory} MB: "
            f"{result.input_bytes / 1e6:,.0f} MB in {result.conv_seconds:.1f} s = "
            f"{result.throughput / 1e6:.1f} MB/s of input; peak cluster memory "
            f"{result.peak_cluster_bytes / 2**20:,.0f} MiB; {result.checked_images} images "
            "checked exact"
        )
    one, two = results
    print(f"scaling 1 -> 2 workers: {two.throughput / one.throughput:.2f}x")
    return 0


def _progress() -> tuple[Any, Any]:
    """(callback, closer) of a progress bar on stderr: rich, else tqdm, else a plain counter."""
    try:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("bench", total=None)

        def update(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what[:48])

        return update, bar.stop
    except ImportError:
        pass
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]

        state: dict[str, Any] = {}

        def update_tqdm(done: int, total: int, what: str) -> None:
            if "bar" not in state:
                state["bar"] = tqdm(total=total, file=sys.stderr, leave=False)
            state["bar"].set_description(what[:48])
            state["bar"].update(done - state["bar"].n)

        return update_tqdm, lambda: state["bar"].close() if "bar" in state else None
    except ImportError:

        def update_plain(done: int, total: int, what: str) -> None:
            print(f"\r{done}/{total} {what[:48]:48s}", end="", file=sys.stderr, flush=True)

        return update_plain, lambda: print(file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run ``convmm bench``; exit status 0."""
    from . import _bench_report, bench

    if args.dask:
        return run_dask(args)
    if args.rounds < 1:
        raise UsageError(f"--rounds must be a positive int; got {args.rounds}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be a positive int; got {args.threads}")
    for option in ("json", "markdown", "plot"):
        if getattr(args, option):
            check_writable(getattr(args, option), "--" + option)
    layers = bench.suite(quick=args.quick)
    only = [part for part in (args.shapes or "").split(",") if part] or None
    if args.list:
        for layer in layers:
            print(f"{layer.name:24s} {layer.kind:9s} {layer.describe()}")
        return 0
    if only and not any(any(part in layer.name for part in only) for layer in layers):
        names = ", ".join(layer.name for layer in layers)
        raise UsageError(f"--shapes {args.shapes!r} matches no layer; the layers are {names}")
    update, close = _progress()
    try:
        report = bench.run(
            layers,
            rounds=args.rounds,
            threads=args.threads,
            only=only,
            memory=not args.no_memory,
            progress=update,
        )
    finally:
        close()
    print(_bench_report.table(report))
    if args.json:
        _bench_report.save_json(report, args.json)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as file:
            file.write(_bench_report.markdown(report))
    if args.plot:
        _bench_report.save_plot(report, args.plot)
    return 0
