"""Rewrite runner throughput against a loopback server with a fixed latency.

    .venv/bin/python benchmarks/bench_rewrite.py [--latency 0.2] [--waves 10] [--concurrency 32 64 128]
                                                 [--server fake] [--connections-per-client N] [--profile FILE]

The ideal throughput at concurrency C and latency L is C / L requests per second (every slot
busy all the time). For each C the script sends C × waves requests through `RewriteRunner` (result
log, limiter, retry handling, progress accounting included) and prints its throughput as a
fraction of the ideal (goal ≥ 0.9), next to a bare baseline measured in the same run: the same
AsyncOpenAI clients (the runner's pool layout) and request route driven by a plain semaphore,
with no log and no bookkeeping.

Why the benchmark has its own server: what is measured is the client, and on a 2-core machine
the server shares the cores with it. The test suite's `FakeOpenAIServer` is a stdlib
ThreadingHTTPServer (a thread and a full `http.server` parse per connection, the whole OpenAI
surface behind it): about 0.4 ms of CPU per request, a third of the client's ~1.2 ms, taken from
the same two cores. Here the replies come from `LatencyServer`, a minimal asyncio HTTP/1.1
keep-alive server (request line, headers, Content-Length body, sleep, one fixed chat.completion
JSON built once) in its own process: about 0.12–0.3 ms per request. Both CPU figures are printed
on every run so this can be checked; `--server fake` runs the benchmark on the fake server, which
is still what every correctness test uses.

The client's CPU per request is the figure that decides throughput: the event loop is one
thread, so at concurrency 128 and 200 ms (640 requests/s) 1.2 ms per request keeps it ~77 % busy,
and every other process on the machine adds queueing delay to each request. Compare runs only on
an idle machine (the load average is printed at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx2

from soulchat.rewrite import RewriteSettings, SingleTurn
from soulchat.rewrite import runner as runner_module
from soulchat.rewrite.runner import RewriteRunner, make_clients
from soulchat.testing.fake_server import FakeOpenAIServer, Reply

ANSWER = "分析：……\n改写后的对话：\n" + "\n".join(["用户：我最近睡不好。", "心理咨询师：听起来你很辛苦。"] * 8)
COMPLETION = {
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "gpt-3.5-turbo-0125",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 400, "completion_tokens": 120, "total_tokens": 520},
}


# -- the servers --------------------------------------------------------------------------------
class LatencyServer:
    """Answers every POST with the same chat.completion after `latency` seconds (HTTP/1.1
    keep-alive, one coroutine per connection, the reply bytes built once)."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        payload = json.dumps(COMPLETION, ensure_ascii=False).encode("utf-8")
        self.reply = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                      b"content-length: %d\r\n\r\n" % len(payload)) + payload

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                close = False
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                if length:
                    await reader.readexactly(length)
                await asyncio.sleep(self.latency)
                writer.write(self.reply)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def serve(self, ready) -> None:
        server = await asyncio.start_server(self.handle, "127.0.0.1", 0, backlog=1024)
        host, port = server.sockets[0].getsockname()[:2]
        ready(f"http://{host}:{port}/v1")
        async with server:
            await asyncio.Event().wait()  # until the process is ended


class FixedLatency:
    def __init__(self, latency: float) -> None:
        self.latency = latency

    def __call__(self, body) -> Reply:
        return Reply(ANSWER, delay=self.latency)


def _cpu() -> float:
    """CPU seconds of this process, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _answer_cpu_requests(pipe) -> None:
    """In the server process: the parent asks for our CPU time before and after each run."""
    while pipe.recv() == "cpu":
        pipe.send(_cpu())


def serve(kind: str, latency: float, pipe) -> None:
    if kind == "fake":
        # the fake server keeps a deep listen backlog and sets TCP_NODELAY, as real servers do
        server = FakeOpenAIServer(FixedLatency(latency))
        server.start()
        pipe.send(server.base_url)
        _answer_cpu_requests(pipe)
        server.stop()
        return
    def answer_then_exit() -> None:
        _answer_cpu_requests(pipe)
        os._exit(0)  # the server loop has nothing to flush

    threading.Thread(target=answer_then_exit, daemon=True).start()
    asyncio.run(LatencyServer(latency).serve(pipe.send))


# -- the clients --------------------------------------------------------------------------------
def rows(count: int, tag: str) -> list[SingleTurn]:
    return [SingleTurn("bench", i, i, 0, "情绪", f"用户：第{tag}-{i}个问题，我总是失眠。\n心理咨询师：能感受到你的疲惫。")
            for i in range(count)]


async def bare(base_url: str, settings: RewriteSettings, count: int) -> float:
    clients = make_clients(base_url, "bench", settings)  # the runner's pool layout
    gate = asyncio.Semaphore(settings.concurrency)

    async def one(i: int) -> None:
        async with gate:
            response = await clients[i % len(clients)].post("/chat/completions", cast_to=httpx2.Response,
                                         body={"model": "m", "messages": [{"role": "user", "content": f"bare {i}"}]})
            json.loads(response.content)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - start
    for client in clients:
        await client.close()
    return elapsed


class Meter:
    """Wall time and CPU time of the client (this process) and of the server process."""

    def __init__(self, pipe) -> None:
        self.pipe = pipe

    def server_cpu(self) -> float:
        self.pipe.send("cpu")
        return self.pipe.recv()

    def __enter__(self) -> Self:
        self.server, self.client, self.start = self.server_cpu(), _cpu(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.elapsed = time.perf_counter() - self.start
        self.client = _cpu() - self.client
        self.server = self.server_cpu() - self.server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.2, help="server latency in seconds (default: %(default)s)")
    parser.add_argument("--waves", type=int, default=10, help="requests per slot (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--server", choices=["asyncio", "fake"], default="asyncio",
                        help="asyncio: the benchmark's minimal server (default); fake: the tests' FakeOpenAIServer")
    parser.add_argument("--connections-per-client", type=int, default=runner_module.CONNECTIONS_PER_CLIENT,
                        help="size of each client's connection pool (default: %(default)s; 1000: one pool)")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the runner runs to FILE")
    args = parser.parse_args()
    runner_module.CONNECTIONS_PER_CLIENT = args.connections_per_client

    load = os.getloadavg()[0]
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(args.server, args.latency, child), daemon=True)
    server.start()
    base_url = parent.recv()
    meter = Meter(parent)
    profile = cProfile.Profile() if args.profile else None
    asyncio.run(bare(base_url, RewriteSettings(model="m", concurrency=8), 16))  # warm up imports and sockets
    print(f"{args.server} server {base_url}, latency {args.latency * 1000:.0f} ms, {args.waves} requests per slot, "
          f"at most {args.connections_per_client} connections per client")
    print(f"{'concurrency':>11} {'requests':>8} {'ideal/s':>8} {'bare/s':>8} {'runner/s':>8} "
          f"{'bare÷ideal':>10} {'runner÷ideal':>12} {'runner÷bare':>11} "
          f"{'CPU ms/req: bare':>16} {'runner':>6} {'server':>6}")
    worst = 1.0
    try:
        for concurrency in args.concurrency:
            count = concurrency * args.waves
            settings = RewriteSettings(model="gpt-3.5-turbo", concurrency=concurrency, timeout=30)
            ideal = concurrency / args.latency
            with meter:
                asyncio.run(bare(base_url, settings, count))
            bare_rate, bare_cpu = count / meter.elapsed, meter.client
            with tempfile.TemporaryDirectory() as output:
                runner = RewriteRunner(settings, output, base_url=base_url, progress=False)
                with meter:
                    if profile:
                        profile.enable()
                    report = runner.run(rows(count, str(concurrency)))
                    if profile:
                        profile.disable()
            assert report.ok == count, report.to_json()
            rate = count / meter.elapsed
            worst = min(worst, rate / ideal)
            ms = 1000 / count
            print(f"{concurrency:>11} {count:>8} {ideal:>8.0f} {bare_rate:>8.0f} {rate:>8.0f} "
                  f"{bare_rate / ideal:>10.3f} {rate / ideal:>12.3f} {rate / bare_rate:>11.3f} "
                  f"{bare_cpu * ms:>16.2f} {meter.client * ms:>6.2f} {meter.server * ms:>6.2f}")
    finally:
        parent.send("stop")
        server.join(timeout=2)
        if server.is_alive():
            server.terminate()
            server.join(timeout=5)
    if profile:
        profile.dump_stats(args.profile)
        print(f"profile of the runner runs written to {args.profile}")
    print(f"worst runner fraction of ideal: {worst:.3f} (goal >= 0.9)")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
          f"(the client needs about "
          f"ideal/s × runner CPU ms/req ÷ 1000 cores; CPU ms/req includes the profiler's cost with --profile)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
