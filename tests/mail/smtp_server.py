#!/usr/bin/python3
"""A small SMTP server for tests/mail/test_smtp.sh, on Debian's aiosmtpd.

Run it with /usr/bin/python3: the python3 on PATH may be a separate build
that does not see Debian's python3-aiosmtpd.

Each message received is saved to --maildir as NNNN.eml: a few envelope lines
(MAIL FROM, RCPT TO, TLS, AUTH), a blank line, then the message exactly as
received (CRLF line ends). Files appear atomically (written, then renamed).
Prints "ready PORT" on stdout once listening (--port 0 picks a free port).
"""

import argparse
import asyncio
import itertools
import os
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Saver:
    def __init__(self, maildir):
        self.maildir = maildir
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        tls = server.transport.get_extra_info("ssl_object") is not None
        auth = "-"
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            auth = session.auth_data.login.decode("utf-8", "replace")
        head = [f"MAIL FROM: {envelope.mail_from}"]
        head += [f"RCPT TO: {r}" for r in envelope.rcpt_tos]
        head += [f"TLS: {'yes' if tls else 'no'}", f"AUTH: {auth}", "", ""]
        name = f"{next(self.counter):04d}.eml"
        tmp = os.path.join(self.maildir, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write("\n".join(head).encode("utf-8"))
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(self.maildir, name))
        return "250 OK"


def make_authenticator(user, password):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        # handled=False: aiosmtpd answers 535 itself on failure.
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    return authenticator


async def serve(args):
    context = None
    if args.mode != "plain":
        if not (args.tls_cert and args.tls_key):
            sys.exit("smtp_server.py: --mode %s needs --tls-cert and --tls-key" % args.mode)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)

    smtp_kwargs = {"hostname": "localhost", "timeout": 30}
    if args.mode == "starttls":
        smtp_kwargs.update(tls_context=context, require_starttls=True)
    if args.auth_user is not None:
        smtp_kwargs.update(
            authenticator=make_authenticator(args.auth_user, args.auth_pass or ""),
            auth_required=True,
            # In plain mode AUTH is allowed without TLS, so that it can be
            # tested on its own; with TLS aiosmtpd offers it only after it.
            auth_require_tls=args.mode == "starttls",
        )
    handler = Saver(args.maildir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, loop=loop, **smtp_kwargs),
        host="127.0.0.1",
        port=args.port,
        ssl=context if args.mode == "implicit" else None,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"ready {port}", flush=True)
    async with server:
        await server.serve_forever()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--maildir", required=True)
    p.add_argument("--mode", choices=["plain", "starttls", "implicit"], default="plain")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--auth-user")
    p.add_argument("--auth-pass")
    args = p.parse_args()
    os.makedirs(args.maildir, exist_ok=True)
    # aiosmtpd warns about AUTH without TLS, which plain mode allows on purpose.
    warnings.simplefilter("ignore")
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
