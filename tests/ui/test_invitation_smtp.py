"""The invitation mail over real SMTP: a minimal SMTP listener on 127.0.0.1 (started by the test)
receives what Django's SMTP backend sends when ``EMAIL_BACKEND`` is smtp."""

from __future__ import annotations

import re
import socketserver
import threading

from django.test import Client

from omni.tenants.models import Invitation, hash_invitation_token


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for one client: greeting, EHLO, MAIL, RCPT, DATA, QUIT."""

    def _say(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self._say("220 test ESMTP")
        for _ in range(100):  # bounded: one mail is a handful of commands
            line = self.rfile.readline(4096).decode(errors="replace").strip()
            verb = line.split(" ", 1)[0].upper()
            if not line or verb == "QUIT":
                self._say("221 bye")
                return
            if verb == "EHLO":
                self._say("250 test")
            elif verb == "DATA":
                self._say("354 go on")
                lines = []
                for _ in range(10_000):
                    data = self.rfile.readline(65536).decode(errors="replace")
                    if data in (".\r\n", ""):
                        break
                    lines.append(data)
                self.server.messages.append("".join(lines))
                self._say("250 queued")
            else:
                self._say("250 ok")


def test_the_mail_goes_out_over_smtp(world, settings, django_capture_on_commit_callbacks):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.server_address[1]
        settings.DEFAULT_FROM_EMAIL = "Omni <omni@example.org>"
        client = Client()
        client.force_login(world.admin, backend="django.contrib.auth.backends.ModelBackend")
        email = f"smtp-{world.acme.slug}@example.org"
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/o/{world.acme.slug}/members/invite/", {"email": email, "role": "member"}
            )
        assert response.status_code == 302
    finally:
        server.shutdown()
        server.server_close()
    (message,) = server.messages
    assert f"To: {email}" in message and "From: Omni <omni@example.org>" in message
    token = re.search(r"http://testserver/invite/([A-Za-z0-9_-]+)/", message).group(1)
    assert Invitation.objects.get(token_hash=hash_invitation_token(token)).email == email


def _settings_in_a_process(**env: str):
    import os
    import subprocess
    import sys

    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.EMAIL_BACKEND, settings.INVITATION_EXPIRY_HOURS)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "omni.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_mail_settings_from_the_environment():
    done = _settings_in_a_process(EMAIL_BACKEND="smtp", INVITATION_EXPIRY_HOURS="24")
    assert done.stdout.split() == ["django.core.mail.backends.smtp.EmailBackend", "24"], done.stderr
    assert _settings_in_a_process().stdout.split()[0] == "django.core.mail.backends.console.EmailBackend"
    for env, message in (
        ({"EMAIL_BACKEND": "carrier-pigeon"}, "EMAIL_BACKEND='carrier-pigeon'"),
        ({"EMAIL_USE_TLS": "true", "EMAIL_USE_SSL": "true"}, "exclusive"),
        ({"INVITATION_EXPIRY_HOURS": "0"}, "must be at least 1"),
    ):
        done = _settings_in_a_process(**env)
        assert done.returncode != 0 and message in done.stderr, (env, done.stderr[-500:])
