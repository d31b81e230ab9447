"""A webhook receiver for the README's walk-through: listens on 127.0.0.1:PORT, checks each delivery's Standard
Webhooks signature with SECRET (the ``standardwebhooks`` package) and prints what it received.

    .venv/bin/python scripts/webhook_receiver.py 9999 whsec_...
"""

import http.server
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main(port, secret):
    webhook = Webhook(secret)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                payload = webhook.verify(body, dict(self.headers))
            except WebhookVerificationError as exc:
                print(f"REFUSED ({exc}): {body[:200]!r}", flush=True)
                self.send_response(400)
                self.end_headers()
                return
            print(f"VERIFIED {self.headers['webhook-id']}: {json.dumps(payload)}", flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    print(f"Listening on http://127.0.0.1:{port}/", flush=True)
    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
