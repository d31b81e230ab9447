"""Timing an outage's share of a request: the time spent on a broker or cache that does not answer, apart from the
time the request's own work takes on a machine busy with other tests."""

import socket
import time
import types
from contextlib import contextmanager


@contextmanager
def socket_waits(port):
    """Times a block run in this process: ``seconds`` its whole time, ``waited`` the part of it spent in socket calls
    (connect, send, receive) to ``port``, the broker's: the outage's share of a request."""
    timing = types.SimpleNamespace(waited=0.0)
    originals = {name: getattr(socket.socket, name) for name in ("connect", "send", "sendall", "recv", "recv_into")}

    def timed(name, original):
        def call(sock, *args, **kwargs):
            try:
                peer = args[0][1] if name == "connect" else sock.getpeername()[1]
            except (OSError, IndexError, TypeError):
                peer = None
            if peer != port:
                return original(sock, *args, **kwargs)
            started = time.monotonic()
            try:
                return original(sock, *args, **kwargs)
            finally:
                timing.waited += time.monotonic() - started

        return call

    for name, original in originals.items():
        setattr(socket.socket, name, timed(name, original))
    started = time.monotonic()
    try:
        yield timing
    finally:
        timing.seconds = time.monotonic() - started
        for name, original in originals.items():
            setattr(socket.socket, name, original)
