"""cpor.mail.SmtpBackend writes the MIME form of a text+HTML message to plain addresses itself (Python's email package
took milliseconds a message): what a mail program reads from it is what it reads from Django's own form, and any
other message is Django's to build. Sent to a real SMTP server on loopback."""

import email
import email.policy

import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives, mailers

from cpor.mail import message_bytes

LONG_HTML = "<p>" + "Northwind Traders · " * 40 + "</p>\n<p>short line</p>"
MESSAGES = {
    "english, short lines": (
        "Your claim “Northwind Yammer” was rejected",
        "Hello Pat,\n\n  - Yammer is not licensed on this tenant.\n",
        "<p>Hello Pat,</p>\n<ul><li>Yammer is not licensed.</li></ul>\n",
        ["claims@partner-a.example"],
    ),
    "traditional chinese, long subject and lines": (
        "Contoso Partners 請求成為您的合作夥伴紀錄，請在截止日前確認所有產品與聯絡人資料是否正確無誤",  # noqa: RUF001
        "您好，\n\n" + "Contoso Partners（MPN ID 1000001）請求 Microsoft 將其記錄為您組織的合作夥伴。" * 3 + "\n.\n",  # noqa: RUF001
        "<p>您好，</p>" + "<p>" + "合作夥伴紀錄 " * 60 + "</p>",  # noqa: RUF001
        ["dana@northwindtraders.example", "toni@northwindtraders.example"],
    ),
    "english, long ascii subject and html": (
        "Action required on your claim Northwind Traders Microsoft 365 renewal for the whole of the year 2027",
        "From the partner: a line that starts with From and a dot line follows\n.\nend",
        LONG_HTML,
        ["claims@partner-a.example"],
    ),
    "text only": ("Your password", "Choose a new password:\nhttps://cpor.example/" + "x" * 90, None, ["a@b.example"]),
}


def _message(subject, text, html, to):
    message = EmailMultiAlternatives(subject, text, to=to)
    if html is not None:
        message.attach_alternative(html, "text/html")
    message.extra_headers["Message-ID"] = "<0123456789abcdef@cpor.example>"
    message.extra_headers["From"] = message.from_email
    message.from_email = "bounces+7-0123456789abcdef0123@cpor.example"
    return message


def _read(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


@pytest.mark.parametrize("name", MESSAGES)
def test_mail_mime_reads_as_djangos_own_form(name):
    message = _message(*MESSAGES[name])

    ours = message_bytes(message)
    django = _read(message.message(policy=email.policy.SMTP).as_bytes())
    read = _read(ours)

    for header in ("Subject", "From", "To", "Message-ID", "MIME-Version"):
        assert read[header] == django[header], header
    assert read["Date"] and read.get_content_type() == django.get_content_type()
    for kind in ("plain", "html") if message.alternatives else ("plain",):
        assert read.get_body((kind,)).get_content() == django.get_body((kind,)).get_content()
        assert read.get_body((kind,)).get_content_charset() == "utf-8"
    # SMTP's limits: CRLF line ends, no bare LF, lines within 78 characters (the bodies encoded when longer).
    assert b"\n" not in ours.replace(b"\r\n", b"")
    assert max(len(line) for line in ours.split(b"\r\n")) <= 78
    assert not read.defects and not any(part.defects for part in read.walk())


def test_mail_mime_other_shapes_are_left_to_django():
    plain = EmailMessage("Hello", "Body", to=["claims@partner-a.example"])
    assert message_bytes(plain) is not None
    for message in [
        EmailMessage("Hello", "Body", to=["Pat Partner <claims@partner-a.example>"]),
        EmailMessage("Hello", "Body", to=["claims@partner-a.example"], cc=["audit@partner-a.example"]),
        EmailMessage("Hello", "Body", to=["claims@partner-a.example"], reply_to=["help@cpor.example"]),
        EmailMessage("Hello", "Body", to=["claims@bücher.example"]),
        EmailMessage("Hello", "Body", to=["claims@partner-a.example"], headers={"X-Note": "naïve"}),
        EmailMessage("Hello", "Body", to=["claims@partner-a.example"], attachments=[("a.txt", "x", "text/plain")]),
        EmailMessage("Hello", "Body", to=["claims@partner-a.example"], headers={"X-Long": "x" * 80}),
        EmailMessage("Hello\nBcc: someone@else.example", "Body", to=["claims@partner-a.example"]),
    ]:
        assert message_bytes(message) is None


def test_mail_mime_smtp_backend_sends_both_forms(smtp):
    """The common shape goes out as written here, any other through Django: the server takes both, and each
    recipient's envelope is the message's."""
    ours = _message(*MESSAGES["traditional chinese, long subject and lines"])
    other = EmailMessage(
        "Hello", "Body", to=["claims@partner-a.example"], cc=["audit@partner-a.example"], from_email="a@cpor.example"
    )

    assert mailers.default.send_messages([ours, other]) == 2

    first, second = smtp.messages
    assert first["Subject"] == ours.subject
    assert first["X-Test-Rcpt-To"] == "dana@northwindtraders.example, toni@northwindtraders.example"
    assert first["X-Test-Mail-From"] == "bounces+7-0123456789abcdef0123@cpor.example"
    # The dot line came through (smtplib doubles it on the wire, the server takes the second away).
    assert first.get_body(("plain",)).get_content().replace("\r\n", "\n") == ours.body
    assert second["Cc"] == "audit@partner-a.example"
    assert second["X-Test-Rcpt-To"] == "claims@partner-a.example, audit@partner-a.example"
    assert ours.refused_recipients == {} and other.refused_recipients == {}
