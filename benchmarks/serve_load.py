"""A bounded load test of the playground: N concurrent generation requests against
``elman serve`` on loopback, checked against the same requests made one at a time.

    python benchmarks/serve_load.py                       # trains a small model first
    python benchmarks/serve_load.py --model runs/demo --requests 50 --length 200

Every request asks for LENGTH tokens with its own seed. The script starts the server
itself on a free port, makes the requests one at a time (the reference), then all at
once from N threads, and checks that every output equals its reference: concurrent
requests share the loaded weights and nothing else. It prints throughput (requests and
tokens per second) and the p50/p95 latency of the concurrent requests, and writes them
to benchmarks/results/serve-load.{md,json}. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: dict) -> tuple[dict, float]:
    """The reply to a POST of ``body``, and the seconds it took."""
    start = time.perf_counter()
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=600) as reply:
        data = json.loads(reply.read())
    return data, time.perf_counter() - start


def small_model(directory: Path) -> Path:
    """A 256-unit character model trained for 150 steps on the built-in corpus."""
    out = directory / "model"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "elman",
            "train",
            "--hidden",
            "256",
            "--max-steps",
            "150",
            "--out",
            str(out),
        ],  # fmt: skip
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint directory (default: train a small one)")
    parser.add_argument("--requests", type=int, default=50, help="concurrent requests")
    parser.add_argument("--length", type=int, default=200, help="tokens per request")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else small_model(Path(tmp))
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "elman", "serve", "--model", f"m={model}", "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(base + "/api/models", timeout=1).read()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(server.stderr.read().decode()) from None
                    time.sleep(0.2)
            bodies = [
                {"model": "m", "prompt": "", "length": args.length, "seed": seed}
                for seed in range(args.requests)
            ]
            url = base + "/api/generate"
            alone = [post(url, body)[0]["text"] for body in bodies]
            start = time.perf_counter()
            with ThreadPoolExecutor(args.requests) as pool:
                replies = list(pool.map(lambda body: post(url, body), bodies))
            wall = time.perf_counter() - start
        finally:
            server.terminate()
            server.wait(timeout=30)

    together = [reply["text"] for reply, _ in replies]
    latencies = sorted(seconds for _, seconds in replies)
    equal = sum(a == b for a, b in zip(alone, together, strict=True))
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
        "requests": args.requests,
        "tokens_per_request": args.length,
        "completed": len(replies),
        "equal_to_one_at_a_time": equal,
        "seconds": wall,
        "requests_per_s": args.requests / wall,
        "tokens_per_s": args.requests * args.length / wall,
        "latency_p50_s": statistics.median(latencies),
        "latency_p95_s": latencies[max(0, round(0.95 * len(latencies)) - 1)],
    }
    table = "\n".join(
        [
            f"# elman serve under load, {result['date']} ({result['cpus']} CPUs, load "
            f"{result['load_average']:.1f})",
            "",
            "| requests | tokens each | completed | equal to one at a time | wall s | "
            "requests/s | tokens/s | p50 s | p95 s |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {args.requests} | {args.length} | {len(replies)} | {equal} | {wall:.2f} | "
            f"{result['requests_per_s']:.1f} | {result['tokens_per_s']:,.0f} | "
            f"{result['latency_p50_s']:.2f} | {result['latency_p95_s']:.2f} |",
        ]
    )
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "serve-load.md").write_text(table + "\n", encoding="utf-8")
    (RESULTS / "serve-load.json").write_text(json.dumps(result, indent=2) + "\n")
    if equal != args.requests:
        raise SystemExit(f"{args.requests - equal} outputs differ from the one-at-a-time run")


if __name__ == "__main__":
    main()
