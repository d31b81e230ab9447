"""What an SMTP server's answers mean for the outbox (``claims.services.notifications``): whether a failure is
worth retrying, whether the session survives it, and the server's words as they go on a row. Pure helpers."""

import contextlib
import smtplib


def smtp_transient(exc, recipient=None):
    """4xx replies, lost connections and network errors are worth retrying; 5xx replies are not. When the
    server refused every recipient and ``recipient``'s copy decides the row, its own answer says which."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = answers_lowered(exc.recipients)
        if recipient is not None and recipient in answers:
            return 400 <= answers[recipient][0] < 500
        return any(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    # SMTPException subclasses OSError: anything else from smtplib is permanent, plain network errors are not.
    return not isinstance(exc, smtplib.SMTPException)


def smtp_session_usable_after(exc):
    """Whether the session survives ``exc``: smtplib resets it after recipients are refused (greylisting one
    mailbox), unless the server said 421 (closing) and hung up."""
    return isinstance(exc, smtplib.SMTPRecipientsRefused) and all(code != 421 for code, _ in exc.recipients.values())


def answers_lowered(answers):
    return {str(address).lower(): answer for address, answer in answers.items()}


def _reply_text(code, reply):
    reply = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(f"{code} {reply}".split())


def refused_text(refused):
    return "; ".join(f"{address}: {_reply_text(code, reply)}" for address, (code, reply) in refused.items())


def smtp_error_text(exc):
    """The server's answer, as it said it ("451 4.3.2 Try again later"; per recipient when it refused them),
    without the envelope sender (each row's own): else the exception's text."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return refused_text(exc.recipients)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply_text(exc.smtp_code, exc.smtp_error)
    return str(exc) or repr(exc)


def mailer_close(mailer):
    # Closing a session the server already dropped may raise; there is nothing left to close then.
    with contextlib.suppress(smtplib.SMTPException, OSError):
        mailer.close()
