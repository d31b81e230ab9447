"""Signed opt-out links (SPEC §7).

The token carries the claim's submission key (a random UUID, neither a database id nor personal data) and the
end of the opt-out window the email stated, signed with the project's SECRET_KEY and a salt of its own, so a token
for any other purpose never validates here. The deadline identifies the notice (a link made for another deadline,
or one whose notice was replaced, is not valid); it no longer ends the link: the link lives while the claim awaits
the customer or an association from it lives (SPEC §7: Decline later), which the page decides
(``claims.policy.CustomerRules``).
"""

import uuid

from django.core import signing

SALT = "cpor.claims.opt-out"


class TokenInvalid(Exception):
    """Not a token we signed (typo, truncated, tampered, signed for something else)."""


def opt_out_token_make(*, submission_key, deadline):
    payload = {"k": uuid.UUID(str(submission_key)).hex, "e": int(deadline.timestamp())}
    return signing.dumps(payload, salt=SALT, compress=False)


def opt_out_token_read(token, *, now=None):
    """The submission key (a UUID) the token was made for and the deadline it states (seconds); raises
    TokenInvalid. ``now`` is ignored (a link does not expire by itself)."""
    try:
        payload = signing.loads(token, salt=SALT)
        if not isinstance(payload, dict) or set(payload) != {"k", "e"}:
            raise ValueError("not an opt-out payload")
        key, expires = payload["k"], payload["e"]
        # Only the shapes opt_out_token_make writes: a 32-digit hex key and a whole number of seconds (a JSON
        # 1e400 would be a float infinity, which int() cannot take).
        if not isinstance(key, str) or type(expires) is not int:
            raise ValueError("not an opt-out payload")
        key = uuid.UUID(hex=key)
    except (signing.BadSignature, ValueError) as exc:
        # BadSignature covers a bad signature, a malformed token and SECRET_KEY_FALLBACKS no longer holding the
        # key it was signed with (Signer checks the current key, then each fallback).
        raise TokenInvalid(str(exc)) from exc
    return key, expires
