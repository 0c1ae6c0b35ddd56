"""What `soulchat serve` adds to a request: 64 concurrent streaming clients through the gateway to a
fake engine, against the same clients straight to the engine, in one run.

    .venv/bin/python benchmarks/bench_serve.py [--clients 64] [--requests 10000] [--baseline-requests 3000]
                                               [--model-delay 0.2]

Three processes on loopback: the fake OpenAI upstream (`FakeOpenAIServer`: waits --model-delay
seconds, then streams the reply one character per chunk), `soulchat serve --base-url UPSTREAM` (its
own process, as deployed), and this one, running --clients streaming clients at once (httpx).
Each request is a three-message conversation (no disclosure, no note: the reply must come back
exactly as the engine sent it, else it counts as an error). First --baseline-requests straight to
the upstream, then a warm-up of 200 requests through the gateway, the gateway's RSS, --requests
requests through the gateway, its RSS again. Prints per-request latency (first byte to last chunk)
p50/p99 both ways, the added latency (gateway minus direct, per percentile), errors, throughput,
the gateway's CPU time per request and its RSS before/after. Goals (issue #13): added p50 <= 5 ms, 0 errors, flat RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import time

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
sys.path.insert(0, SRC)

REPLY = "我在听。这些争吵让你很疲惫吧，愿意和我说说最近一次是怎么开始的吗？"
MESSAGES = [
    {"role": "user", "content": "最近和室友总是吵架，心里很烦"},
    {"role": "assistant", "content": "听起来这些争吵让你很疲惫。"},
    {"role": "user", "content": "是的，我们经常为小事争吵"},
]
KEY = "sk-bench"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_upstream(port: int, delay: float) -> None:
    from soulchat.testing import FakeOpenAIServer, Reply

    server = FakeOpenAIServer(lambda request: Reply(REPLY, delay=delay), port=port).start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()


def wait_for(url: str, process: subprocess.Popen, what: str, timeout: float = 120.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not answer at {url} within {timeout:.0f} s")


async def load(base_url: str, model: str, clients: int, requests: int) -> tuple[list[float], list[str], float]:
    """(latencies in seconds, errors, wall seconds) of `requests` streamed requests, `clients` at once.

    The clients read the server-sent events with plain httpx: the openai client's per-chunk models
    would make this process, not the servers, the bottleneck on a small machine."""
    import json

    import httpx

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    client = httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60,
                               limits=limits)
    body = {"model": model, "messages": MESSAGES, "stream": True}
    latencies: list[float] = []
    errors: list[str] = []
    remaining = iter(range(requests))

    async def one_client() -> None:
        for _ in remaining:
            began = time.perf_counter()
            try:
                async with client.stream("POST", "/chat/completions", json=body) as response:
                    if response.status_code != 200:
                        raise AssertionError(f"HTTP {response.status_code}: {(await response.aread())[:120]!r}")
                    pieces = []
                    async for line in response.aiter_lines():
                        if line.startswith("data: ") and line != "data: [DONE]":
                            choices = json.loads(line[6:]).get("choices") or [{}]
                            pieces.append(choices[0].get("delta", {}).get("content") or "")
                text = "".join(pieces)
                if text != REPLY:
                    raise AssertionError(f"unexpected reply {text[:40]!r}")
            except Exception as error:  # noqa: BLE001 - counted and reported, the run goes on
                errors.append(f"{type(error).__name__}: {str(error)[:120]}")
                continue
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    wall = time.perf_counter() - began
    await client.aclose()
    return latencies, errors, wall


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def rss_mib(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def report(name: str, latencies: list[float], errors: list[str], wall: float) -> None:
    print(f"{name:8} {len(latencies):6d} ok  {len(errors):4d} errors  p50 {percentile(latencies, .5) * 1000:7.1f} ms  "
          f"p99 {percentile(latencies, .99) * 1000:7.1f} ms  {len(latencies) / wall:6.1f} req/s")
    for error in sorted(set(errors))[:3]:
        print(f"         {errors.count(error)}x {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=10_000, help="through the gateway, between the RSS readings")
    parser.add_argument("--baseline-requests", type=int, default=3_000, help="straight to the upstream")
    parser.add_argument("--model-delay", type=float, default=0.2)
    parser.add_argument("--upstream", type=int, help=argparse.SUPPRESS)  # internal: run the fake upstream on PORT
    args = parser.parse_args()
    if args.upstream:
        run_upstream(args.upstream, args.model_delay)
        return 0

    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "SOULCHAT_API_KEY": KEY, "OPENAI_API_KEY": "upstream"}
    up_port, gw_port = free_port(), free_port()
    upstream = subprocess.Popen([sys.executable, __file__, "--upstream", str(up_port),
                                 "--model-delay", str(args.model_delay)], env=env, stdout=subprocess.DEVNULL)
    log = open(os.environ.get("BENCH_SERVE_LOG", os.devnull), "w")  # one line per request (no text)
    gateway = subprocess.Popen(
        [sys.executable, "-m", "soulchat.cli", "serve", "--base-url", f"http://127.0.0.1:{up_port}/v1",
         "--model", "fake", "--port", str(gw_port), "--concurrency", str(args.clients), "--max-attempts", "1"],
        env=env, stderr=log)
    try:
        direct_url, gateway_url = f"http://127.0.0.1:{up_port}/v1", f"http://127.0.0.1:{gw_port}/v1"
        wait_for(direct_url + "/models", upstream, "the fake upstream")
        wait_for(gateway_url.removesuffix("/v1") + "/health", gateway, "soulchat serve")
        print(f"machine: {platform.node()} · {os.cpu_count()} cores · {platform.processor() or platform.machine()} "
              f"· Python {platform.python_version()}")
        print("load average at start: {:.2f} {:.2f} {:.2f} (other jobs share a small machine: see the CPU per request)"
              .format(*os.getloadavg()))
        print(f"{args.clients} concurrent streaming clients, model delay {args.model_delay * 1000:.0f} ms, "
              f"reply {len(REPLY)} characters streamed one per chunk")
        asyncio.run(load(direct_url, "fake", args.clients, 200))  # warm-up: connections, imports
        direct = asyncio.run(load(direct_url, "fake", args.clients, args.baseline_requests))
        asyncio.run(load(gateway_url, "fake", args.clients, 200))
        before, cpu = rss_mib(gateway.pid), cpu_seconds(gateway.pid)
        through = asyncio.run(load(gateway_url, "fake", args.clients, args.requests))
        after, cpu = rss_mib(gateway.pid), cpu_seconds(gateway.pid) - cpu
        report("direct", *direct)
        report("gateway", *through)
        for q in (0.5, 0.99):
            added = (percentile(through[0], q) - percentile(direct[0], q)) * 1000
            print(f"added latency p{int(q * 100)}: {added:+.1f} ms")
        print(f"errors: {len(direct[1]) + len(through[1])}")
        print(f"gateway CPU: {cpu / max(1, args.requests) * 1000:.2f} ms per request")
        print(f"gateway RSS: {before:.1f} MiB before, {after:.1f} MiB after {args.requests} requests "
              f"({after - before:+.1f} MiB)")
        print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    finally:
        for process in (gateway, upstream):
            process.terminate()
            process.wait(timeout=30)
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
