"""A bounded load test of the playground: N concurrent generation requests against
``elman serve`` on loopback, checked against the same requests made one at a time; and
one long generation streamed against the same request answered whole.

    python benchmarks/serve_load.py                       # trains a small model first
    python benchmarks/serve_load.py --model runs/demo --requests 50 --length 200

Every request asks for LENGTH tokens with its own seed. The script starts the server
itself on a free port, makes the requests one at a time (the reference), then all at
once from N threads, and checks that every output equals its reference: concurrent
requests share the loaded weights and nothing else. It prints throughput (requests and
tokens per second) and the p50/p95 latency of the concurrent requests.

Then it asks for --long tokens (10,000 by default: 10,000 characters from the default
character model) --repeats times each way, alternating: with ``"stream": true`` (reading
every server-sent event until the last) and without; it checks that both give the same
text and reports the median seconds of each and their ratio (the page streams, so a
stream much slower than the whole answer is time a person waits for nothing).

Everything is written to benchmarks/results/serve-load.{md,json}. Not part of the test
suite.
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


def post_stream(url: str, body: dict) -> tuple[str, float, int]:
    """The text a streamed generation ends with, the seconds until its last event, and
    how many token events came before it."""
    start = time.perf_counter()
    request = urllib.request.Request(
        url, json.dumps({**body, "stream": True}).encode(), {"Content-Type": "application/json"}
    )
    events, text = 0, None
    with urllib.request.urlopen(request, timeout=600) as reply:
        for line in reply:
            if not line.startswith(b"data: "):
                continue
            event = json.loads(line[6:])
            if event.get("done"):
                text = event["text"]
                break
            events += 1
    if text is None:
        raise SystemExit("the stream ended without its last event")
    return text, time.perf_counter() - start, events


def streaming_against_whole(url: str, length: int, repeats: int) -> dict:
    """Median seconds of one generation of ``length`` tokens streamed and answered whole,
    alternating, after one untimed request of each (warm-up)."""
    body = {"model": "m", "prompt": "", "length": length, "seed": 1}
    post(url, {**body, "length": 10})
    post_stream(url, {**body, "length": 10})
    whole, streamed = [], []
    for _ in range(repeats):
        reply, seconds = post(url, body)
        whole.append(seconds)
        text, seconds, events = post_stream(url, body)
        streamed.append(seconds)
        if text != reply["text"]:
            raise SystemExit("the streamed text differs from the whole answer")
    return {
        "long_tokens": length,
        "long_chars": len(reply["text"]),
        "long_events": events,
        "whole_s": statistics.median(whole),
        "stream_s": statistics.median(streamed),
        "stream_over_whole": statistics.median(streamed) / statistics.median(whole),
        "repeats": repeats,
    }


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
    parser.add_argument(
        "--long", type=int, default=10_000, help="tokens of the streamed-or-whole generation"
    )
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the long generation")
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
            stream = streaming_against_whole(url, args.long, args.repeats)
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
        **stream,
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
            "",
            f"One generation of {stream['long_tokens']:,} tokens ({stream['long_chars']:,} "
            f"characters), median of {stream['repeats']}:",
            "",
            "| answered whole s | streamed s | streamed / whole | token events |",
            "|---:|---:|---:|---:|",
            f"| {stream['whole_s']:.2f} | {stream['stream_s']:.2f} | "
            f"{stream['stream_over_whole']:.2f} | {stream['long_events']:,} |",
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
