#!/usr/bin/python3
# An SMTP server for the notifier's tests (src/daemon/notifier_test.cc):
# listens on 127.0.0.1 (a free port, printed on stdout once it accepts),
# writes every mail it takes to OUT_DIR/<n>.json (envelope, login, content)
# and stops when its stdin closes. Plain SMTP without STARTTLS, which the
# email channel allows to a loopback relay only. With USER and PASSWORD it
# requires AUTH (PLAIN or LOGIN) and refuses other credentials.
#
#   smtp_sink.py OUT_DIR [USER PASSWORD]
#
# Needs aiosmtpd (Debian: python3-aiosmtpd, for /usr/bin/python3).
import json
import os
import socket
import sys
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

out_dir = sys.argv[1]
user = sys.argv[2].encode() if len(sys.argv) > 3 else None
password = sys.argv[3].encode() if len(sys.argv) > 3 else None


class Sink:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "login": login,
            "content": envelope.original_content.decode("utf-8", "replace"),
        }
        path = os.path.join(out_dir, "%d.json" % self.count)
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)  # the test never reads half a mail
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == user and auth_data.password == password
    # handled=False: aiosmtpd then answers 535 (with True it answers nothing).
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)


warnings.simplefilter("ignore")  # AUTH without TLS is what this test server is for
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
options = {}
if user is not None:
    options = dict(authenticator=authenticate, auth_require_tls=False, auth_required=True)
controller = Controller(Sink(), hostname="127.0.0.1", port=port, **options)
controller.start()
print(port, flush=True)
sys.stdin.read()
controller.stop()
