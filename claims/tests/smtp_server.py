"""A real SMTP server for the email tests: aiosmtpd on a free loopback port, in a thread of the test process.

It keeps every message it accepted, counts the connections it was opened, and answers as the test tells it:
``accept``; ``refuse`` (451 to MAIL FROM, as a server in trouble does); ``reject`` (550 to every recipient);
``lose_reply`` (take the message, then hang up before the "250", as when a reply is lost on the way back).
``recipient_replies`` answers one recipient's RCPT TO its own way ({address: "554 5.1.1 No such mailbox"}), as a
customer's server does for an address that does not exist. Each message kept carries the envelope it came with:
``X-Test-Mail-From`` (the envelope sender) and ``X-Test-Rcpt-To``.
One server per test session; ``smtp`` resets it for each test.
"""

import email
import email.policy
import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


class SmtpServer:
    def __init__(self):
        self.mode = "accept"
        self.recipient_replies = {}
        self.messages = []
        self.connections = 0
        self.refused = 0
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.controller = _Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def mailer(self):
        return {
            "BACKEND": "cpor.mail.SmtpBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": self.port, "timeout": 5},
        }

    def reset(self):
        self.mode = "accept"
        self.recipient_replies = {}
        self.messages.clear()
        self.connections = 0
        self.refused = 0

    def message_ids(self):
        return [message["Message-ID"] for message in self.messages]

    # aiosmtpd's handler hooks (run in the server's event loop thread).
    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mode == "refuse":
            self.refused += 1
            return "451 4.3.2 Try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.recipient_replies.get(address.lower())
        if reply is not None:
            return reply
        if self.mode == "reject":
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Test-Rcpt-To"] = ", ".join(envelope.rcpt_tos)
        message["X-Test-Mail-From"] = envelope.mail_from
        self.messages.append(message)
        if self.mode == "lose_reply":
            self.mode = "accept"
            server.transport.abort()  # the message is taken; the client never hears so
        return "250 OK"


class _CountingSMTP(SMTP):
    def __init__(self, owner, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._owner = owner

    def connection_made(self, transport):
        self._owner.connections += 1
        super().connection_made(transport)


class _Controller(Controller):
    def __init__(self, owner, **kwargs):
        super().__init__(owner, **kwargs)
        self._owner = owner

    def factory(self):
        return _CountingSMTP(self._owner, self.handler, **self.SMTP_kwargs)


@pytest.fixture(scope="session")
def smtp_server():
    server = SmtpServer()
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()


@pytest.fixture
def smtp(smtp_server, settings):
    """The session's SMTP server, reset, and this test process's mailer pointed at it."""
    smtp_server.reset()  # the controller's start-up probe counted as a connection
    settings.MAILERS = {"default": smtp_server.mailer}
    yield smtp_server
    smtp_server.reset()
