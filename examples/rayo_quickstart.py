#!/usr/bin/env python3
"""A small Rayo application for Switchboard's quick start (README.md), on
slixmpp (https://slixmpp.readthedocs.io), an XMPP library that knows
nothing of Switchboard.

It logs in, tells the server it takes calls (<show>chat</show> to the
domain), prints every offer and event, answers each call it is offered,
and hangs it up after --hold seconds. With --dial, once an inbound call is
answered it dials a second party; with --join as well, it joins the two
calls when the second party answers, so that they hear each other.

    python3 examples/rayo_quickstart.py usera@rayo.localhost 1 127.0.0.1:5222
    python3 examples/rayo_quickstart.py usera@rayo.localhost 1 127.0.0.1:5222 \\
        --dial 9100 --join --hold 20

Needs slixmpp (`pip install slixmpp`; `scripts/test` makes a virtual
environment with it in target/rayo-venv). Stop it with Ctrl-C.
"""

import argparse
import asyncio
import ipaddress
import logging
import ssl
import sys
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

RAYO = "urn:xmpp:rayo:1"


def log(*words):
    print(*words, flush=True)


def call_jid(ref, domain):
    """The JID of the call a <ref> names: from `uri` (XEP-0327) or `id`
    (the older dialect, where the call is `id@domain`)."""
    uri = ref.get("uri")
    if uri:
        return uri[len("xmpp:"):] if uri.startswith("xmpp:") else uri
    return "%s@%s" % (ref.get("id"), domain)


class QuickStart(slixmpp.ClientXMPP):
    def __init__(self, args, loopback):
        # slixmpp logs in without TLS only when told to. On a loopback
        # address (the default config has no rayo.tls) SCRAM is allowed
        # there, and PLAIN with --plain (Switchboard offers PLAIN without
        # TLS only with rayo.allow_plain_without_tls). Elsewhere STARTTLS
        # is used, and required.
        mechanisms = {"unencrypted_scram": loopback, "unencrypted_plain": loopback and args.plain}
        super().__init__(
            args.jid,
            args.password,
            plugin_config={"feature_mechanisms": mechanisms},
            sasl_mech="PLAIN" if args.plain else None,
        )
        self.args = args
        if args.insecure:
            # A self-signed rayo.tls certificate (testing only).
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE
        self.calls = {}  # call JID -> what we know about it
        self.finished = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("presence", self.on_presence)
        self.add_event_handler("failed_auth", self.on_failed_auth)

    def on_failed_auth(self, _event):
        log("login failed: wrong JID or password, or no common SASL mechanism")
        if not self.finished.done():
            self.finished.set_result(False)

    async def on_session_start(self, _event):
        log("logged in as", self.boundjid.full)
        # Available for offers: directed presence to the domain.
        self.send_presence(pto=self.boundjid.domain, pshow="chat")
        log("available for calls; call in now")

    async def rayo(self, to, name, attrs=None):
        """Sends one Rayo command to `to`; returns the result IQ or None."""
        iq = self.make_iq_set(ito=to)
        iq.append(ET.Element("{%s}%s" % (RAYO, name), attrs or {}))

        def answered(reply):
            # Runs as the reply arrives, so lines keep the wire's order.
            if reply["type"] == "error":
                error = reply["error"]
                log("  %s -> %s: error %s (%s)" % (name, to, error["condition"], error["text"]))
            else:
                log("  %s -> %s: ok" % (name, to))

        try:
            return await iq.send(callback=answered, timeout=10)
        except IqError:
            return None
        except IqTimeout:
            log("  %s -> %s: no answer" % (name, to))
            return None

    def on_presence(self, presence):
        sender = presence["from"].bare
        for event in presence.xml:
            if not event.tag.startswith("{%s}" % RAYO):
                continue
            name = event.tag.split("}")[1]
            if name == "offer":
                self.on_offer(sender, event)
            elif name == "end":
                reason = event[0].tag.split("}")[1] if len(event) else "?"
                code = event.get("platform-code")
                log("%s: end %s%s" % (sender, reason, " (SIP %s)" % code if code else ""))
                self.on_end(sender)
            elif name == "dtmf":
                log("%s: dtmf %s" % (sender, event.get("signal")))
            elif name in ("joined", "unjoined"):
                other = event.get("call-uri") or event.get("call-id")
                log("%s: %s %s" % (sender, name, other))
            else:
                log("%s: %s" % (sender, name))
                if name == "answered":
                    asyncio.ensure_future(self.on_answered(sender))

    def on_offer(self, call, offer):
        headers = {h.get("name"): h.get("value") for h in offer.findall("{%s}header" % RAYO)}
        log("%s: offer from %s to %s" % (call, offer.get("from"), offer.get("to")))
        for name, value in headers.items():
            log("    %s: %s" % (name, value))
        self.calls[call] = {"inbound": True, "peer": None}
        asyncio.ensure_future(self.handle_inbound(call))

    async def handle_inbound(self, call):
        if await self.rayo(call, "answer") is None:
            return
        if self.args.dial:
            attrs = {"to": self.args.dial}
            if self.args.dial_from:
                attrs["from"] = self.args.dial_from
            reply = await self.rayo(self.boundjid.domain, "dial", attrs)
            if reply is not None:
                ref = reply.xml.find("{%s}ref" % RAYO)
                if ref is not None:
                    dialed = call_jid(ref, self.boundjid.domain)
                    log("  dialed %s as %s" % (self.args.dial, dialed))
                    self.calls[dialed] = {"inbound": False, "peer": call}
                    self.calls[call]["peer"] = dialed
        await asyncio.sleep(self.args.hold)
        for jid in (call, self.calls.get(call, {}).get("peer")):
            if jid in self.calls:
                await self.rayo(jid, "hangup")

    async def on_answered(self, dialed):
        """A call we dialed was answered: join it to its inbound call."""
        peer = self.calls.get(dialed, {}).get("peer")
        if self.args.join and peer in self.calls:
            await self.rayo(peer, "join", {"call-uri": "xmpp:" + dialed})

    def on_end(self, call):
        known = self.calls.pop(call, None)
        # --once: done when the first inbound call and its dialed peer are over.
        if known and self.args.once and not self.calls and not self.finished.done():
            self.finished.set_result(True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jid", help="user@domain from rayo.users and rayo.domain")
    parser.add_argument("password")
    parser.add_argument("server", help="HOST[:PORT] of rayo.listen (port 5222 by default)")
    parser.add_argument("--dial", metavar="TO", help="dial TO (sip: URI, tel: URI or number) once a call is answered")
    parser.add_argument("--dial-from", metavar="FROM", help="the From of that dial (a SIP URI or a user name)")
    parser.add_argument("--join", action="store_true", help="join the dialed call to the inbound one when it answers")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds before hanging up (default 10)")
    parser.add_argument("--plain", action="store_true", help="log in with SASL PLAIN (over TLS, or on loopback with rayo.allow_plain_without_tls)")
    parser.add_argument("--insecure", action="store_true", help="accept any TLS certificate (self-signed rayo.tls)")
    parser.add_argument("--once", action="store_true", help="exit once the first call (and the one it dialed) ended")
    parser.add_argument("--debug", action="store_true", help="log every stanza")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING)

    try:
        return 0 if asyncio.run(run(args)) else 1
    except KeyboardInterrupt:
        return 0


async def run(args):
    host, _, port = args.server.rpartition(":") if ":" in args.server else (args.server, "", "5222")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    app = QuickStart(args, loopback)
    app.register_plugin("xep_0199")
    app.connect(host, int(port))
    try:
        return await app.finished
    finally:
        app.disconnect()


if __name__ == "__main__":
    sys.exit(main())
