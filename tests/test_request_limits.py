"""Every HTTP request body has a limit, enforced before anything reads the body."""

import socket
import time

import pytest

from tests.conftest import run_server

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def small_body_server(django_db_setup, django_db_blocker):
    with run_server(REQUEST_MAX_BODY_BYTES=str(LIMIT)) as server:
        yield server


def _raw_request(port: int, head: bytes, body_chunks=(), wait: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the server may close before the body is all sent: that is the point
        answer = b""
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            answer += data
        return answer


def test_declared_body_over_the_limit_is_refused_before_it_is_sent(small_body_server):
    head = (
        b"POST /login/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 1073741824\r\n\r\n"
    )
    started = time.monotonic()
    answer = _raw_request(small_body_server.port, head)
    assert answer.startswith(b"HTTP/1.1 413")
    assert time.monotonic() - started < 3


def test_chunked_body_growing_past_the_limit_is_cut_off(small_body_server):
    head = b"POST /api/stations/ HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"x" * 16384
    body = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 8 + [b"0\r\n\r\n"]
    answer = _raw_request(small_body_server.port, head, body)
    assert answer.startswith(b"HTTP/1.1 413")


def test_body_within_the_limit_reaches_the_page(small_body_server):
    body = b"username=nobody&password=wrong"
    head = (
        b"POST /login/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    answer = _raw_request(small_body_server.port, head, [body])
    # Django answers (the CSRF check refuses a form without its token): not the size limit.
    assert answer.startswith(b"HTTP/1.1 403")
    assert b"larger than allowed" not in answer
