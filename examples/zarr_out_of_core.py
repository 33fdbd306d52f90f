"""Convolve a Zarr image stack larger than the workers' memory, and write the result to Zarr.

A float32 stack (default 2 GB) is written to Zarr chunk by chunk, convolved lazily by
``convmm.conv`` with a bank of four 4x4 filters at stride 2 on a ``dask.distributed``
LocalCluster (default: 2 worker processes limited to 512 MB each, 1 GB in all), and the four
half-resolution maps per image are written back to Zarr, with a progress bar.  Sampled images
are then checked against the in-memory result, and the run fails if a worker was restarted
(killed for memory) or a checked value differs.

    python examples/zarr_out_of_core.py                       # 2 GB through 2 x 512 MB
    python examples/zarr_out_of_core.py --megabytes 256 --memory 150 --path /tmp/stack

Needs the dask extra: ``pip install 'convmm[dask]'``.
"""

from __future__ import annotations

import argparse
import tempfile

from convmm._outofcore import run_job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=2048, help="the stack's size (MiB)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--memory", type=int, default=512, help="each worker's limit (MiB)")
    parser.add_argument("--path", help="where the Zarr stores go (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="convmm-zarr-") as scratch:
        result = run_job(
            args.path or scratch,
            input_bytes=args.megabytes * 2**20,
            workers=args.workers,
            memory_limit=args.memory * 2**20,
            progress=True,
        )
    total = args.workers * args.memory
    print()
    print(
        f"input {result.input_bytes / 2**20:,.0f} MiB (workers' memory: {args.workers} x "
        f"{args.memory} = {total:,} MiB), output {result.output_bytes / 2**20:,.0f} MiB"
    )
    print(f"written to Zarr in {result.write_seconds:.1f} s")
    print(
        f"convolved and stored in {result.conv_seconds:.1f} s: "
        f"{result.throughput / 1e6:.1f} MB/s of input"
    )
    print(f"peak memory of the cluster's processes: {result.peak_cluster_bytes / 2**20:,.0f} MiB")
    print(
        f"{result.checked_images} images checked against the in-memory result: largest "
        f"difference {result.max_abs_error:g}; workers restarted: {result.workers_restarted}"
    )


if __name__ == "__main__":
    main()
