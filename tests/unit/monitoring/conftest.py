"""Fixtures for monitoring tests: tiny worlds at a fixed instant, a scratch warehouse, real local receivers."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from pipelines.config import HeraldConfig, WorldSettings, load_config

T = datetime(2026, 3, 1, tzinfo=timezone.utc)


@lru_cache(maxsize=8)
def world(seed: int = 7, drift: float = 0.0, bias: float = 0.0):
    from pipelines.synthetic import generate_world

    cfg = load_config()
    return generate_world(WorldSettings(size="tiny", seed=seed, drift=drift, bias=bias), cfg.channels,
                          cfg.policy.send_hours, T)


def features_at(w, at: datetime) -> pd.DataFrame:
    """Customer features as the pipelines compute them, for customers who had signed up by ``at``."""
    from pipelines import features

    customers = w.customers[pd.to_datetime(w.customers["signup_date"]) < pd.Timestamp(at.date())]
    return features.customer_features(customers, w.events, w.reviews, at, load_config().region_timezones, 60)


def days(n: float) -> timedelta:
    return timedelta(days=n)


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HeraldConfig:
    monkeypatch.setenv("HERALD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HERALD_WORLD__SIZE", "tiny")
    config = load_config()
    write_tables(config, world().tables())
    return config


def write_tables(cfg: HeraldConfig, tables: dict[str, pd.DataFrame]) -> None:
    from pipelines.warehouse import get_warehouse

    with get_warehouse(cfg, must_exist=False) as warehouse:
        for name, frame in tables.items():
            warehouse.write(name, frame, mode="truncate")


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
