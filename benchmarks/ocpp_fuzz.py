"""Fuzz the OCPP endpoint for longer than the suite does: hostile frames from several chargers.

    python -m config.embedded exec .venv/bin/python benchmarks/ocpp_fuzz.py --frames 20000 --chargers 5
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/evops_fuzzbench REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python benchmarks/ocpp_fuzz.py --frames 20000 --chargers 5

Starts one server (python -m config.serve), registers the chargers, and sends
frames from tests/ocpp_fuzzing.py (the generators tests/test_ocpp_fuzz.py uses),
one frame per charger at a time, all chargers at once, each frame followed by
a Heartbeat probe. Reports frames sent and answered, CALLERRORs by code,
InternalErrors, answers that break OCPP-J 1.6 or our contract, dropped
connections, frames persisted in the frame log against frames sent + answers
received, and the server's peak RSS. Exits non-zero when any rule was broken.
Without DATABASE_URL it uses a fresh SQLite database in a temporary folder, and
without REDIS_URL a private embedded Redis (benchmarks/harness.py).
"""

import argparse
import sys
import time
from collections import Counter

from harness import Environment, PeakRss, free_port, server_argv, stop_process, wait_listening

PASSWORD = "fuzz-bench-secret-0123"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20000, help="fuzz frames to send (probes not counted)")
    parser.add_argument("--chargers", type=int, default=5)
    parser.add_argument("--max-frame-bytes", type=int, default=32768, help="the server's OCPP_MAX_FRAME_BYTES")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=10, help="broken rules to print in full")
    args = parser.parse_args()

    with Environment("fuzzbench", log_level="ERROR", OCPP_MAX_FRAME_BYTES=str(args.max_frame_bytes)) as env:
        return fuzz(args, env)


def fuzz(args, env: Environment) -> int:
    env.django_setup()
    from django.conf import settings
    from django.core.management import call_command
    from hypothesis import HealthCheck, Phase, given, seed
    from hypothesis import settings as hypothesis_settings
    from hypothesis import strategies as st

    from stations.models import FrameLog
    from stations.ocpp.v16 import HANDLERS
    from stations.services import registration
    from tests.ocpp_fuzzing import EventLoopThread, FuzzCharger, fuzz_frames

    call_command("migrate", verbosity=0)
    run_id = f"{int(time.time()) % 10**8}"
    identities = [f"FZB{run_id}-{n:03d}" for n in range(1, args.chargers + 1)]
    registration.stations_register_bulk(entries=[(identity, PASSWORD) for identity in identities])

    port = free_port()
    server = env.start("server", server_argv(port, log_level="error"))
    rss = None
    tally: Counter = Counter()
    codes: Counter = Counter()
    mutations_broken: Counter = Counter()
    shown: list[str] = []
    chargers: list[FuzzCharger] = []
    began = time.perf_counter()
    try:
        wait_listening(port, server, timeout=30)
        rss = PeakRss(server.pid)
        url = f"ws://127.0.0.1:{port}/ocpp/"
        with EventLoopThread() as loop:
            chargers = [FuzzCharger(url, i, PASSWORD, max_frame_bytes=args.max_frame_bytes) for i in identities]
            loop.gather([charger.connect() for charger in chargers])
            batches = -(-args.frames // args.chargers)
            frames = st.lists(
                fuzz_frames(sorted(HANDLERS)), min_size=args.chargers, max_size=args.chargers
            )  # one frame for each charger, sent together

            @seed(args.seed)
            @hypothesis_settings(
                max_examples=batches,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(batch=frames)
            def send(batch):
                if tally["frames"] >= args.frames or tally["aborted"]:
                    return
                try:
                    exchanges = loop.gather(
                        [charger.exchange(frame) for charger, frame in zip(chargers, batch, strict=True)]
                    )
                except Exception as exc:  # the server stopped answering at all: report, stop sending
                    tally["aborted"] += 1
                    shown.append(f"aborted: {exc!r}")
                    return
                for exchange in exchanges:
                    tally["frames"] += 1
                    tally["answered"] += bool(exchange.answers)
                    tally["refused_too_big"] += exchange.refused_too_big
                    tally["dropped"] += exchange.close_code is not None
                    for answer in exchange.answers:
                        if isinstance(answer, list) and answer[:1] == [4] and len(answer) > 2:
                            codes[str(answer[2])] += 1
                        elif isinstance(answer, list) and answer[:1] == [3]:
                            codes["(CALLRESULT)"] += 1
                    problems = exchange.problems
                    if problems:
                        tally["broken"] += 1
                        mutations_broken[exchange.frame.mutation.split(":")[0]] += 1
                        if len(shown) < args.show:
                            shown.extend(problems)
                if tally["frames"] % 2000 < args.chargers:
                    elapsed = time.perf_counter() - began
                    print(f"  {tally['frames']} frames in {elapsed:.0f} s", flush=True)

            send()
            loop.gather([charger.close() for charger in chargers])
        wall = time.perf_counter() - began
        expected = sum(charger.frames_sent + charger.frames_received for charger in chargers)
        logged = FrameLog.objects.filter(station__identity__in=identities)
        deadline = time.monotonic() + 30
        persisted = logged.count()
        while persisted < expected and time.monotonic() < deadline:
            time.sleep(0.5)
            persisted = logged.count()
        alive = server.poll() is None
    finally:
        peak = rss.stop() if rss else 0
        stop_process(server, name="server")

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"\n=== fuzz: {tally['frames']} frames from {args.chargers} chargers, seed {args.seed}, db {engine}, "
          f"OCPP_MAX_FRAME_BYTES {args.max_frame_bytes}, {wall:.1f} s")  # fmt: skip
    print(f"frames sent: {tally['frames']}  answered: {tally['answered']}  "
          f"refused for size (1009): {tally['refused_too_big']}")  # fmt: skip
    print("answers by kind: " + ", ".join(f"{code} {count}" for code, count in codes.most_common()))
    print(f"InternalErrors: {codes.get('InternalError', 0)}")
    print(f"dropped connections: {tally['dropped']}  reconnects: {sum(c.reconnects for c in chargers)}")
    print(
        f"frames breaking a rule: {tally['broken']}"
        + (f" (by mutation: {dict(mutations_broken)})" if tally["broken"] else "")
    )
    print(f"frame log: {persisted} persisted of {expected} sent + answered ({persisted - expected:+d})")
    print(f"server: {'alive' if alive else 'exited'}, peak RSS {peak / 2**20:.0f} MiB")
    for line in shown:
        print(f"  - {line[:400]}")
    ok = alive and not tally["broken"] and not tally["aborted"] and persisted == expected
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
