"""`kvgate-bench up`: N simulated engines and one gateway on loopback, until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading

from loadtests.fleet import Fleet, ProcessStartError

EXAMPLE = """\
kvgate is up: {url}/v1  ({engines} simulated engines, profile {profile}, model {model})

  curl {url}/v1/models

  python - <<'PY'
  from openai import OpenAI
  client = OpenAI(base_url="{url}/v1", api_key="none")
  stream = client.chat.completions.create(
      model="{model}",
      messages=[{{"role": "user", "content": "Why does prefix caching save GPUs?"}}],
      max_tokens=64,
      stream=True,
  )
  for chunk in stream:
      print(chunk.choices[0].delta.content or "", end="", flush=True)
  print()
  PY

Engines: {engine_urls}
Metrics: {url}/metrics   Logs: {logs}
Press Ctrl-C to stop.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engines", type=int, default=4, help="number of kvgate-sim engines")
    parser.add_argument("--profile", default="h100-llama3-8b", help="kvgate-sim profile")
    parser.add_argument("--model", default="Qwen/Qwen2.5-7B-Instruct", help="served model name")
    parser.add_argument("--port", type=int, default=8080, help="gateway port on 127.0.0.1")
    parser.add_argument("--time-scale", type=float, default=1.0, help="engine time scale")
    parser.add_argument(
        "--gateway-arg", action="append", default=[], help="extra `kvgate serve` argument"
    )


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sim_args = ["--time-scale", str(args.time_scale)]
    with Fleet() as fleet:
        try:
            sims = [
                fleet.start_sim(profile=args.profile, model=args.model, extra_args=sim_args)
                for _ in range(args.engines)
            ]
            gateway = fleet.start_gateway(
                [sim.url for sim in sims], port=args.port, extra_args=args.gateway_arg
            )
        except ProcessStartError as exc:
            print(f"kvgate-bench up: {exc}")
            return 1
        print(
            EXAMPLE.format(
                url=gateway.url,
                engines=args.engines,
                profile=args.profile,
                model=args.model,
                engine_urls=" ".join(sim.url for sim in sims),
                logs=fleet.log_dir,
            ),
            flush=True,
        )
        try:
            while not stop.wait(0.5):
                if gateway.popen.poll() is not None:
                    print(f"gateway exited:\n{gateway.log_tail()}")
                    return 1
        except KeyboardInterrupt:
            pass
        print("stopping…", flush=True)
    return 0
