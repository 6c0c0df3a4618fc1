#!/usr/bin/env python3
"""A small Rayo IVR for Switchboard on slixmpp: welcome, PIN, voicemail.

For each call it is offered it answers; says a welcome with text-to-speech
(<output> with an SSML document); asks for a four-digit PIN with a
<prompt> (the question, barge-in, and a DTMF <input> with an SRGS
grammar), says the PIN back digit by digit, or says it was not understood
and asks once more; asks for a message after the beep and <record>s it,
printing the recording's URL, length and size; says goodbye and hangs up.

    target/rayo-venv/bin/python examples/rayo-ivr/ivr.py \\
        usera@rayo.localhost 1 127.0.0.1:5222

Every step prints one line (`answer ok`, `welcome finish`, `pin 1234`,
`recording <uri> <ms> <bytes>`, `end hangup-command` ...), so a person or
a test can follow a call. An IQ error prints `error <step> -> <jid>:
<condition> (<text>)`; a call that ends half-way (the caller hangs up)
ends its flow (`flow stopped: the call ended`); a step that fails (an IQ
error, or an `error` completion) ends it too, with a hangup. Needs slixmpp
(`pip install slixmpp`). Stop it with Ctrl-C.
"""

import argparse
import asyncio
import ipaddress
import logging
import ssl
import sys
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

RAYO = "urn:xmpp:rayo:1"
EXT = "urn:xmpp:rayo:ext:1"
OUTPUT = "urn:xmpp:rayo:output:1"
INPUT = "urn:xmpp:rayo:input:1"
PROMPT = "urn:xmpp:rayo:prompt:1"
RECORD = "urn:xmpp:rayo:record:1"
RECORD_COMPLETE = "urn:xmpp:rayo:record:complete:1"
NLSML = "http://www.ietf.org/xml/ns/mrcpv2"

# How long an IQ may go unanswered, in seconds.
IQ_TIMEOUT = 10

# Exactly four keys 0-9: the PIN.
PIN_GRAMMAR = (
    "<grammar xmlns='http://www.w3.org/2001/06/grammar' version='1.0' "
    "mode='dtmf' root='pin'><rule id='pin' scope='public'><item repeat='4'>"
    "<one-of>%s</one-of></item></rule></grammar>"
    % "".join("<item>%d</item>" % digit for digit in range(10))
)


def log(*words):
    print(*words, flush=True)


def local_name(element):
    """`name` of an `{namespace}name` tag."""
    return element.tag.rsplit("}", 1)[-1]


def ssml(body):
    """An SSML document around `body` (already valid SSML content)."""
    return (
        "<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' "
        "xml:lang='en-US'>%s</speak>" % body
    )


def output(body, voice):
    """<output> speaking the SSML content `body` in `voice`."""
    element = ET.Element("{%s}output" % OUTPUT, {"voice": voice})
    document = ET.SubElement(
        element, "{%s}document" % OUTPUT, {"content-type": "application/ssml+xml"}
    )
    # Written as escaped text: the same document a CDATA section carries.
    document.text = ssml(body)
    return element


def pin_prompt(voice):
    """<prompt>: the question, interrupted by the first key, and the PIN input."""
    prompt = ET.Element("{%s}prompt" % PROMPT, {"barge-in": "true"})
    prompt.append(output("Please enter your four digit PIN.", voice))
    attrs = {"mode": "dtmf", "initial-timeout": "10000", "inter-digit-timeout": "5000"}
    grammar = ET.SubElement(
        ET.SubElement(prompt, "{%s}input" % INPUT, attrs),
        "{%s}grammar" % INPUT,
        {"content-type": "application/srgs+xml"},
    )
    grammar.text = PIN_GRAMMAR
    return prompt


def record():
    """<record>: after a beep, at most 20 s, ended by 3 s of silence."""
    attrs = {
        "start-beep": "true",
        "max-duration": "20000",
        "final-timeout": "3000",
        "initial-timeout": "5000",
    }
    return ET.Element("{%s}record" % RECORD, attrs)


def nlsml_instance(match):
    """What a <match> means: its NLSML <instance> (else its <input>).

    The NLSML result comes as the element's text (what CDATA reads as) or
    as a nested <result> element; both are taken."""
    result = match.find("{%s}result" % NLSML)
    if result is None:
        try:
            result = ET.fromstring((match.text or "").strip())
        except ET.ParseError:
            return None
    for name in ("instance", "input"):
        found = result.find(".//{%s}%s" % (NLSML, name))
        if found is not None:
            return "".join(found.itertext()).strip()
    return None


class CallGone(Exception):
    """The call ended while its flow was running."""


class StepFailed(Exception):
    """A component could not be started (its IQ error is printed)."""


class Call:
    """One offered call: its JID and a future resolved by its <end>."""

    def __init__(self, jid, loop):
        self.jid = jid
        self.ended = loop.create_future()


class Ivr(slixmpp.ClientXMPP):
    def __init__(self, args, loopback):
        # On a loopback address (the default config has no rayo.tls) SCRAM
        # is used without TLS; elsewhere STARTTLS is required.
        mechanisms = {"unencrypted_scram": loopback, "unencrypted_plain": loopback and args.plain}
        super().__init__(
            args.jid,
            args.password,
            plugin_config={"feature_mechanisms": mechanisms},
            sasl_mech="PLAIN" if args.plain else None,
        )
        if args.insecure:
            # A self-signed rayo.tls certificate (testing only).
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE
        self.args = args
        self.calls = {}  # call JID -> Call
        # Component JID -> future of its <complete>, made by whichever of
        # the start's result and the completion comes first.
        self.completions = {}
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
        self.send_presence(pto=self.boundjid.domain, pshow="chat")
        # Once a ping sent after it is answered, the server has taken the
        # presence in: calls placed from now on are offered to us.
        try:
            await self.plugin["xep_0199"].ping(self.boundjid.domain, timeout=IQ_TIMEOUT)
        except (IqError, IqTimeout):
            pass
        log("available for calls; call in now")

    def completion(self, jid):
        return self.completions.setdefault(jid, asyncio.get_event_loop().create_future())

    def on_presence(self, presence):
        sender = presence["from"]
        complete = presence.xml.find("{%s}complete" % EXT)
        if complete is not None and sender.resource:
            done = self.completion(sender.full)
            if not done.done():
                done.set_result(complete)
            return
        for event in presence.xml:
            if event.tag == "{%s}offer" % RAYO:
                self.on_offer(sender.bare, event)
            elif event.tag == "{%s}end" % RAYO:
                reason = local_name(event[0]) if len(event) else "?"
                code = event.get("platform-code")
                log("end %s%s" % (reason, " (SIP %s)" % code if code else ""))
                call = self.calls.get(sender.bare)
                if call is not None and not call.ended.done():
                    call.ended.set_result(reason)

    def on_offer(self, jid, offer):
        if jid in self.calls:
            return
        log("offer %s from %s to %s" % (jid, offer.get("from"), offer.get("to")))
        call = Call(jid, asyncio.get_event_loop())
        self.calls[jid] = call
        asyncio.ensure_future(self.run_call(call))

    async def iq_set(self, to, element, step):
        """Sends one IQ set; the result IQ, or None after printing why not."""
        iq = self.make_iq_set(ito=to)
        iq.append(element)
        try:
            return await iq.send(timeout=IQ_TIMEOUT)
        except IqError as error:
            err = error.iq["error"]
            log("error %s -> %s: %s (%s)" % (step, to, err["condition"], err["text"]))
        except IqTimeout:
            log("error %s -> %s: no answer" % (step, to))
        return None

    async def command(self, call, name):
        """A call command such as <answer/>; False if it failed."""
        if await self.iq_set(call.jid, ET.Element("{%s}%s" % (RAYO, name)), name) is None:
            if call.ended.done():
                raise CallGone()
            return False
        log("%s ok" % name)
        return True

    async def component(self, call, element, step):
        """Starts a component and waits for its <complete>; the reason
        element (the first child) and the whole <complete>."""
        reply = await self.iq_set(call.jid, element, step)
        if reply is None:
            raise CallGone() if call.ended.done() else StepFailed(step)
        ref = reply.xml.find("{%s}ref" % RAYO)
        if ref is None:
            log("error %s -> %s: no <ref> in the result" % (step, call.jid))
            raise StepFailed(step)
        uri = ref.get("uri")
        if uri:
            jid = slixmpp.JID(uri[len("xmpp:"):] if uri.startswith("xmpp:") else uri).full
        else:
            # The wiki dialect names the component by id only.
            jid = slixmpp.JID("%s/%s" % (call.jid, ref.get("id"))).full
        log("%s started %s" % (step, jid))
        done = self.completion(jid)
        # Components complete before the call's <end>; the wait on `ended`
        # only guards against a completion that never comes.
        await asyncio.wait([done, call.ended], return_when=asyncio.FIRST_COMPLETED)
        if not done.done():
            raise CallGone()
        self.completions.pop(jid, None)
        complete = done.result()
        reason = complete[0] if len(complete) else None
        name = local_name(reason) if reason is not None else "?"
        text = "".join(reason.itertext()).strip() if name == "error" else ""
        log("%s %s%s" % (step, name, " " + text if text else ""))
        if name == "hangup":
            raise CallGone()
        if name in ("error", "?"):
            raise StepFailed(step)
        return reason, complete

    async def say(self, call, body, step):
        await self.component(call, output(body, self.args.voice), step)

    async def ask_pin(self, call):
        """The PIN prompt, once more after a nomatch or noinput; the PIN or None."""
        for attempt in (1, 2):
            reason, _ = await self.component(call, pin_prompt(self.args.voice), "ask-pin")
            name = local_name(reason)
            if name == "match":
                pin = nlsml_instance(reason)
                log("pin %s" % pin)
                return pin
            log("pin %s" % name)
            if attempt == 2 or name not in ("nomatch", "noinput"):
                return None
            heard = "That was not a PIN." if name == "nomatch" else "I did not hear anything."
            await self.say(call, "%s Let us try again." % heard, "retry")
        return None

    async def run_call(self, call):
        try:
            if await self.command(call, "answer"):
                await self.flow(call)
        except CallGone:
            log("flow stopped: the call ended")
        except StepFailed as failed:
            log("flow stopped: %s failed" % failed)
            if not call.ended.done():
                await self.iq_set(call.jid, ET.Element("{%s}hangup" % RAYO), "hangup")
        finally:
            try:
                await asyncio.wait_for(asyncio.shield(call.ended), IQ_TIMEOUT)
            except asyncio.TimeoutError:
                log("no <end> for %s" % call.jid)
            self.calls.pop(call.jid, None)
            if self.args.once and not self.finished.done():
                self.finished.set_result(True)

    async def flow(self, call):
        await self.say(call, "Welcome to Switchboard.", "welcome")
        pin = await self.ask_pin(call)
        if pin:
            body = "You entered <say-as interpret-as='digits'>%s</say-as>." % escape(pin)
        else:
            body = "No PIN, then."
        await self.say(call, body, "readback")
        await self.say(call, "Please leave a message after the beep.", "leave-message")
        _, complete = await self.component(call, record(), "record")
        recording = complete.find(".//{%s}recording" % RECORD_COMPLETE)
        if recording is not None and recording.get("uri"):
            log(
                "recording %s %s %s"
                % (recording.get("uri"), recording.get("duration"), recording.get("size"))
            )
        else:
            log("recording none")
        await self.say(call, "Thank you. Goodbye.", "goodbye")
        await self.command(call, "hangup")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jid", help="user@domain from rayo.users and rayo.domain")
    parser.add_argument("password")
    parser.add_argument("server", help="HOST[:PORT] of rayo.listen (port 5222 by default)")
    parser.add_argument("--voice", default="allison", help="Rayo voice name (tts.voices maps it; default allison)")
    parser.add_argument("--plain", action="store_true", help="log in with SASL PLAIN (over TLS, or on loopback with rayo.allow_plain_without_tls)")
    parser.add_argument("--insecure", action="store_true", help="accept any TLS certificate (self-signed rayo.tls)")
    parser.add_argument("--once", action="store_true", help="exit once the first call has ended")
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
    app = Ivr(args, loopback)
    app.register_plugin("xep_0199")
    app.connect(host, int(port))
    try:
        return await app.finished
    finally:
        app.disconnect()


if __name__ == "__main__":
    sys.exit(main())
