"""Fixtures every test folder may use: real local alert receivers (SMTP and HTTP) on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# Bind the real ``models`` package first: pytest puts tests/unit on sys.path for the test packages,
# where tests/unit/models would otherwise shadow it and ``models.*`` resolve through the editable
# install (another checkout's code) instead of this one.
import models  # noqa: F401, E402

# Files that share a session fixture run on one worker, so the fixture runs once: the tiny demo run
# of tests/e2e/conftest.py serves both of these.
SHARED_WORKER = {"tests/e2e/test_demo_flow.py": "demo_run", "tests/e2e/test_browser.py": "demo_run"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadfile`` (what ``make test`` passes), with the files of :data:`SHARED_WORKER` on one worker.

    A file's module fixtures (a production stack, an Airflow home, a trained world) then start
    once, not once per worker. ``xdist_group`` marks cannot say this: pytest-xdist 3.8 applies them
    by rewriting ``item._nodeid``, which pytest 9 no longer reads, so ``--dist loadgroup`` silently
    spreads a file over the workers.
    """
    if config.getvalue("dist") != "loadfile":
        return None  # another --dist: pytest-xdist's own scheduler
    # Collection order, not most-tests-first: it starts the end-to-end and service files (few tests,
    # most of the minutes) first, instead of leaving them to run one after another on one worker.
    config.option.loadscopereorder = False
    from xdist.scheduler import LoadScopeScheduling

    class FileScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return SHARED_WORKER.get(path, path)

    return FileScheduling(config, log)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox(list):
    """Messages a local receiver got, as (subject, body) pairs."""

    port: int


@pytest.fixture
def smtp_inbox() -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it receives."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            msg = message_from_bytes(envelope.content)
            part = next((p for p in msg.walk() if p.get_content_maintype() == "text"), msg)
            inbox.append((str(msg["Subject"]), part.get_payload(decode=True).decode(errors="replace")))
            return "250 OK"

    inbox.port = _free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=inbox.port)
    controller.start()
    yield inbox
    controller.stop()


@pytest.fixture
def webhook_inbox() -> Iterator[Inbox]:
    """A real HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it."""
    inbox = Inbox()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            inbox.append((self.path, payload["text"]))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    inbox.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield inbox
    server.shutdown()
    server.server_close()
