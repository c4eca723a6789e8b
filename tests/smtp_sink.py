"""A real SMTP server on loopback for the tests: aiosmtpd in a background thread.

It accepts every message (parsed with the standard library's e-mail parser, so headers
are decoded exactly as a mail client would) and refuses, with a permanent 550, any
recipient whose address contains "reject". It can be stopped and started again on the
same port to simulate an outage, and can take `delay` seconds over each message, so that
deliveries are still on their way when a test breaks something else.

`make bench` (local/bench) uses it too: with `parse` off a message is only counted, so that
the e-mails sent while a load runs cost the bench's process no parsing (`received()` counts
both kinds).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from dataclasses import dataclass

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage
    raw: bytes
    at: float  # time.monotonic() when the DATA command completed


class _Handler:
    def __init__(self, sink: "SmtpSink"):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "reject" in address.lower():
            return "550 5.1.1 <%s>: Recipient address rejected: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        if not self.sink.parse:
            self.sink._count()
            return "250 Message accepted for delivery"
        raw = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        self.sink._add(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, raw, time.monotonic()))
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self, port: int, delay: float = 0.0):
        self.port = port
        self.delay = delay
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self._controller: Controller | None = None
        self.parse = True  # False: messages are counted, not parsed nor kept
        self._counted = 0

    def start(self) -> None:
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _add(self, received: Received) -> None:
        with self._lock:
            self._messages.append(received)

    def _count(self) -> None:
        with self._lock:
            self._counted += 1

    def messages(self) -> list[Received]:
        """The parsed messages, in arrival order."""
        with self._lock:
            return list(self._messages)

    def received(self) -> int:
        """Every message accepted so far, parsed or only counted."""
        with self._lock:
            return self._counted + len(self._messages)

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages() if address.lower() in (r.lower() for r in m.rcpt_tos)]

    def wait_for(self, address: str, count: int = 1, timeout: float = 20.0, subject: str | None = None,
                 where=None) -> list[Received]:
        """The messages to `address` (with `subject`, and matching `where`, if given) once at
        least `count` have arrived."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                m
                for m in self.to(address)
                if (subject is None or m.message["Subject"] == subject) and (where is None or where(m))
            ]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} of {count} e-mails to {address} arrived in {timeout}s")
            time.sleep(0.05)
