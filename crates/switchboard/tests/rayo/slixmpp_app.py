"""A minimal Rayo application on slixmpp, an XMPP implementation independent
of Switchboard's, for tests/rayo_slixmpp.rs.

It logs in (STARTTLS, then SCRAM), announces itself available with
<show>chat</show>, answers the first call offered to it, hangs it up a
moment later and waits for the call's <end>. Every step is printed on its
own line for the Rust test to check; the exit status is 0 only if all of
them happened.

usage: slixmpp_app.py HOST PORT JID PASSWORD
"""

import asyncio
import ssl
import sys
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

RAYO = "urn:xmpp:rayo:1"
DEADLINE = 20.0


def say(*words):
    print(*words, flush=True)


class RayoApp(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password, sasl_mech="SCRAM-SHA-1")
        # The test server's certificate is self-signed.
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.enable_direct_tls = False
        self.enable_starttls = True
        self.enable_plaintext = True
        self.finished = asyncio.get_event_loop().create_future()
        self.call = None
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("presence", self.on_presence)
        self.add_event_handler("failed_auth", lambda _: self.fail("auth failed"))

    def fail(self, why):
        say("FAILED", why)
        if not self.finished.done():
            self.finished.set_result(False)

    async def on_session_start(self, _event):
        say("LOGGED-IN", self.boundjid.full)
        await self.get_roster()
        self.send_presence(pto=self.boundjid.domain, pshow="chat")
        # A ping after the presence: once answered, the server has taken
        # the presence in.
        await self.plugin["xep_0199"].ping(self.boundjid.domain, timeout=5)
        say("READY")

    async def command(self, name):
        iq = self.make_iq_set(ito=self.call)
        iq.append(ET.Element("{%s}%s" % (RAYO, name)))
        try:
            reply = await iq.send(timeout=5)
            say("RESULT", name, reply["type"])
            return True
        except IqError as error:
            say("ERROR", name, error.condition)
        except IqTimeout:
            say("TIMEOUT", name)
        return False

    async def on_presence(self, presence):
        offer = presence.xml.find("{%s}offer" % RAYO)
        end = presence.xml.find("{%s}end" % RAYO)
        sender = presence["from"].bare
        if offer is not None and self.call is None:
            self.call = sender
            headers = {
                h.get("name"): h.get("value") for h in offer.findall("{%s}header" % RAYO)
            }
            say("OFFER", sender, offer.get("to"), "call-id=" + str(headers.get("Call-ID")))
            if await self.command("answer"):
                await asyncio.sleep(1.0)
                await self.command("hangup")
        elif end is not None and sender == self.call:
            reason = end[0].tag.split("}")[-1] if len(end) else "?"
            say("END", reason, presence["type"])
            if not self.finished.done():
                self.finished.set_result(True)


async def main(host, port, jid, password):
    app = RayoApp(jid, password)
    app.register_plugin("xep_0199")
    app.connect(host, int(port))
    try:
        ok = await asyncio.wait_for(app.finished, DEADLINE)
    except asyncio.TimeoutError:
        say("FAILED", "deadline")
        ok = False
    app.disconnect()
    return ok


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sys.exit(0 if asyncio.run(main(*sys.argv[1:])) else 1)
