"""Rewrite runner throughput against the loopback fake server with a fixed latency.

    .venv/bin/python benchmarks/bench_rewrite.py [--latency 0.2] [--waves 10] [--concurrency 32 64 128]

The ideal throughput at concurrency C and latency L is C / L requests per second (every slot
busy all the time). For each C the script sends C × waves requests through `RewriteRunner` (result
log, limiter, retry handling, progress accounting included) and prints its throughput as a
fraction of the ideal (goal ≥ 0.9), next to a bare baseline measured in the same run: the same
AsyncOpenAI client and request route driven by a plain semaphore, with no log and no bookkeeping.

The server runs in its own process so that its threads do not compete with the runner for the GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx2  # noqa: E402

from soulchat.fake_server import FakeOpenAIServer, Reply  # noqa: E402
from soulchat.rewrite import RewriteSettings, SingleTurn  # noqa: E402
from soulchat.rewrite.runner import RewriteRunner, make_client  # noqa: E402

ANSWER = "分析：……\n改写后的对话：\n" + "\n".join(["用户：我最近睡不好。", "心理咨询师：听起来你很辛苦。"] * 8)


class FixedLatency:
    def __init__(self, latency: float) -> None:
        self.latency = latency

    def __call__(self, body) -> Reply:
        return Reply(ANSWER, delay=self.latency)


def serve(latency: float, pipe) -> None:
    # the fake server keeps a deep listen backlog and sets TCP_NODELAY, as real servers do
    server = FakeOpenAIServer(FixedLatency(latency))
    server.start()
    pipe.send(server.base_url)
    pipe.recv()  # until the parent is done
    server.stop()


def rows(count: int, tag: str) -> list[SingleTurn]:
    return [SingleTurn("bench", i, i, 0, "情绪", f"用户：第{tag}-{i}个问题，我总是失眠。\n心理咨询师：能感受到你的疲惫。")
            for i in range(count)]


async def bare(base_url: str, settings: RewriteSettings, count: int) -> float:
    client = make_client(base_url, "bench", settings)
    gate = asyncio.Semaphore(settings.concurrency)

    async def one(i: int) -> None:
        async with gate:
            response = await client.post("/chat/completions", cast_to=httpx2.Response,
                                         body={"model": "m", "messages": [{"role": "user", "content": f"bare {i}"}]})
            json.loads(response.content)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - start
    await client.close()
    return elapsed


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.2, help="server latency in seconds (default: %(default)s)")
    parser.add_argument("--waves", type=int, default=10, help="requests per slot (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 64, 128])
    args = parser.parse_args()

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(args.latency, child), daemon=True)
    server.start()
    base_url = parent.recv()
    asyncio.run(bare(base_url, RewriteSettings(model="m", concurrency=8), 16))  # warm up imports and sockets
    print(f"fake server {base_url}, latency {args.latency * 1000:.0f} ms, {args.waves} requests per slot")
    print(f"{'concurrency':>11} {'requests':>8} {'ideal/s':>8} {'bare/s':>8} {'runner/s':>8} "
          f"{'bare÷ideal':>10} {'runner÷ideal':>12} {'runner÷bare':>11} {'runner CPU ms/req':>17}")
    worst = 1.0
    try:
        for concurrency in args.concurrency:
            count = concurrency * args.waves
            settings = RewriteSettings(model="gpt-3.5-turbo", concurrency=concurrency, timeout=30)
            ideal = concurrency / args.latency
            bare_rate = count / asyncio.run(bare(base_url, settings, count))
            with tempfile.TemporaryDirectory() as output:
                runner = RewriteRunner(settings, output, base_url=base_url, progress=False)
                cpu = _cpu()
                start = time.perf_counter()
                report = runner.run(rows(count, str(concurrency)))
                elapsed = time.perf_counter() - start
                cpu = _cpu() - cpu
            assert report.ok == count, report.to_json()
            rate = count / elapsed
            worst = min(worst, rate / ideal)
            print(f"{concurrency:>11} {count:>8} {ideal:>8.0f} {bare_rate:>8.0f} {rate:>8.0f} "
                  f"{bare_rate / ideal:>10.3f} {rate / ideal:>12.3f} {rate / bare_rate:>11.3f} {cpu / count * 1000:>17.2f}")
    finally:
        parent.send("stop")
        server.join(timeout=5)
    print(f"worst runner fraction of ideal: {worst:.3f} (goal >= 0.9)")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (the client needs about "
          f"ideal/s × CPU ms/req ÷ 1000 cores, the server process as much again)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
