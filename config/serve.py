"""Run the ASGI server (portal, API and OCPP endpoint) with the limits chargers need.

    python -m config.serve --host 127.0.0.1 --port 8000

uvicorn's command line cannot set two things the OCPP endpoint relies on, so
this runner builds its Config itself:
- a deadline for the HTTP request that opens a connection: a client that
  sends half an upgrade request and then nothing is closed after
  OCPP_HANDSHAKE_TIMEOUT_S instead of holding a socket forever;
- the largest websocket message (OCPP_MAX_FRAME_BYTES), enforced by the
  websocket protocol before anything is parsed (close code 1009).

`--workers N` (WEB_CONCURRENCY) runs N server processes sharing the port, one
per core: each holds its own chargers, and commands reach a charger in any of
them through the channel layer. The garbage collector is tuned for many
long-lived connections (see gc_tune).
"""

import argparse
import asyncio
import gc
import os

import uvicorn
from django.conf import settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from .env import env_float, env_str

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class DeadlineHttpProtocol(HttpToolsProtocol):
    """HTTP protocol that closes a connection whose request headers do not
    arrive in time (slow or half-open handshakes)."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = self.loop.call_later(settings.OCPP_HANDSHAKE_TIMEOUT_S, self._headers_too_late)

    def on_headers_complete(self) -> None:
        self._cancel_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_too_late(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def build_config(*, host: str, port: int, log_level: str = "info", access_log: bool = False) -> uvicorn.Config:
    ping = env_float("WS_PING", 20.0)
    return uvicorn.Config(
        "config.asgi:application",
        host=host,
        port=port,
        http=DeadlineHttpProtocol,
        ws="websockets",
        ws_max_size=settings.OCPP_MAX_FRAME_BYTES,
        ws_ping_interval=ping,
        ws_ping_timeout=ping,
        lifespan="on",
        # Client addresses and schemes from X-Forwarded-* only behind a proxy we run
        # (the password throttle keys on the client address).
        proxy_headers=settings.TRUST_X_FORWARDED,
        forwarded_allow_ips=env_str("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        access_log=access_log,
        log_level=log_level,
    )


def gc_tune(threshold: str) -> None:
    """What was loaded at start is frozen out of the collector's view: it lives as long as
    the process, and every full pass would walk it again.

    GC_THRESHOLD ("a,b,c", gc.set_threshold) may make full passes rarer still for many
    long-lived connections. It is off by default: the database connection of a finished
    portal request's thread is closed only when the collector breaks its reference cycle,
    and with rare full passes those connections piled up to PostgreSQL's limit.
    """
    gc.collect()
    gc.freeze()
    if threshold:
        gc.set_threshold(*(int(part) for part in threshold.split(",")))


class TunedServer(uvicorn.Server):
    def run(self, sockets=None) -> None:
        gc_tune(env_str("GC_THRESHOLD", ""))
        super().run(sockets=sockets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--log-level", default=os.environ.get("UVICORN_LOG_LEVEL", "info"))
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")), help="server processes"
    )
    args = parser.parse_args()
    config = build_config(host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log)
    server = TunedServer(config)
    if args.workers <= 1:
        server.run()
        return
    config.workers = args.workers
    Multiprocess(config, target=server.run, sockets=[config.bind_socket()]).run()


if __name__ == "__main__":
    main()
