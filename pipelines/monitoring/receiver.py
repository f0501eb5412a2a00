"""A local SMTP receiver for the demo: alerts land as .eml files under HERALD_HOME/reports/alerts/.

Production sends through the ``smtp_default`` Airflow connection; the demo has no mail server, so
``herald demo`` runs this one (aiosmtpd, on 127.0.0.1 and a free port) for as long as it runs.
"""

from __future__ import annotations

import socket
from email import message_from_bytes
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalInbox:
    """Context manager: an SMTP server on 127.0.0.1 that saves every message it receives into ``folder``."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = Path(folder)
        self.port = port or free_port()
        self._controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"alert_{len(list(self.folder.glob('*.eml'))) + 1:03d}.eml"
        path.write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"

    def messages(self) -> list[tuple[Path, str, str]]:
        """(file, recipients, subject) of every message received, oldest first."""
        found = []
        for path in sorted(self.folder.glob("*.eml")):
            message = message_from_bytes(path.read_bytes())
            subject = " ".join(str(message.get("Subject", "")).split())  # unfold long header lines
            found.append((path, str(message.get("To", "")), subject))
        return found

    def __enter__(self) -> LocalInbox:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._controller is not None:
            self._controller.stop()
