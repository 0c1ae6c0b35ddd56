"""Concurrent chats against the web demo, with a fake OpenAI-compatible backend.

    .venv/bin/python benchmarks/bench_web.py [--chats 20] [--turns 3] [--model-delay 0.2]

Serves `soulchat web` (its own process) on a free loopback port over `FakeOpenAIServer` (each reply waits
--model-delay seconds, as a model would, then streams one character per chunk), then runs
--chats conversations at once through gradio's own client, each --turns turns long, one of them
a crisis message (the safety path). Baseline measured in the same run: one chat alone
(5x --turns turns, after a warm-up turn). Prints
errors, per-turn latency p50/p95/max for both, and the ratio concurrent/alone.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
sys.path.insert(0, SRC)

REPLY = "听起来你最近承受了很多。能和我说说，最让你难受的是哪一部分吗？"
TURNS = ["最近工作压力很大，晚上总是睡不着", "我真的不想活了，活着没意思", "谢谢你愿意听我说"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"soulchat web exited with {process.returncode}: {process.stderr.read().decode()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"soulchat web did not answer at {url} within {timeout:.0f} s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_chats(url: str, chats: int, turns: int) -> tuple[list[float], list[str]]:
    from gradio_client import Client

    clients = [Client(url, verbose=False) for _ in range(chats)]  # connection setup is not timed
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(chats)

    def chat(client) -> None:
        messages: list = []
        start.wait()
        for turn in range(turns):
            text = TURNS[turn % len(TURNS)]
            began = time.perf_counter()
            try:
                _, messages = client.predict(text, messages, api_name="/chat")
                reply = "".join(part["text"] for part in messages[-1]["content"])
                if not reply.endswith(REPLY) or ("不想活" in text and "12356" not in reply):
                    raise AssertionError(f"unexpected reply {reply[:40]!r}")
            except Exception as error:  # counted and reported, the run goes on
                with lock:
                    errors.append(f"{type(error).__name__}: {error}")
                return
            with lock:
                latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=chat, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


def describe(name: str, latencies: list[float], errors: list[str], wall: float) -> None:
    print(f"{name:<12} turns {len(latencies):>4}  errors {len(errors):>2}  "
          f"p50 {statistics.median(latencies) * 1000:7.1f} ms  p95 {percentile(latencies, 0.95) * 1000:7.1f} ms  "
          f"max {max(latencies) * 1000:7.1f} ms  wall {wall:6.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--model-delay", type=float, default=0.2, help="seconds before the fake model answers")
    parser.add_argument("--concurrency", type=int, default=32, help="the page's concurrency limit")
    args = parser.parse_args()

    from soulchat.fake_server import FakeOpenAIServer, Reply

    server = FakeOpenAIServer(lambda request: Reply(REPLY, delay=args.model_delay)).start()
    port = free_port()
    # The page runs as its own process (`soulchat web`, as deployed) so that the 20 clients here
    # do not share its interpreter lock.
    web = subprocess.Popen(
        [sys.executable, "-m", "soulchat.cli", "web", "--base-url", server.base_url, "--model", "fake",
         "--port", str(port), "--concurrency", str(args.concurrency)],
        env=dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", "")),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/"
    wait_until_up(url, web)
    try:
        print(f"web demo at {url}, fake model delay {args.model_delay * 1000:.0f} ms, "
              f"{args.turns} turns per chat (one crisis turn), concurrency limit {args.concurrency}")
        run_chats(url, 1, 1)  # warm-up: first-request costs are not the server's steady state
        began = time.perf_counter()
        alone, alone_errors = run_chats(url, 1, args.turns * 5)
        describe("1 chat", alone, alone_errors, time.perf_counter() - began)
        began = time.perf_counter()
        together, errors = run_chats(url, args.chats, args.turns)
        describe(f"{args.chats} chats", together, errors, time.perf_counter() - began)
        for error in sorted(set(errors))[:5]:
            print(f"  error: {error}")
        if together and alone:
            print(f"ratio p50 {args.chats} chats / 1 chat: {statistics.median(together) / statistics.median(alone):.2f}x "
                  f"(1.00x = no slowdown from sharing the server)")
        return 1 if errors or alone_errors else 0
    finally:
        web.terminate()
        web.wait(timeout=30)
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
