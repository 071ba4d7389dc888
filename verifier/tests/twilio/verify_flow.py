"""Drives the verifier's Twilio-compatible endpoints with Twilio's official Python SDK.

The SDK is pointed at the local service the way its maintainers recommend for mocks: a custom
HTTP client that rewrites the host of each request (https://verify.twilio.com -> the service).
Usage: verify_flow.py VERIFIER_URL CONTROL_URL ACCOUNT_SID AUTH_TOKEN
Prints one line per step; exits non-zero on the first failure.
"""

import json
import sys
import time
import urllib.request

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

BASE, CONTROL, ACCOUNT_SID, AUTH_TOKEN = sys.argv[1:5]
SERVICE = "VA" + "0" * 31 + "1"
MOBILE = "+447700900123"
LANDLINE = "+442079460123"
PREMIUM = "+882123456789"


class LocalHttpClient(TwilioHttpClient):
    """Sends every request to the local service instead of Twilio."""

    def request(self, method, url, params=None, data=None, headers=None, auth=None,
                timeout=None, allow_redirects=False):
        url = url.replace("https://verify.twilio.com", BASE)
        return super().request(method, url, params, data, headers, auth, timeout, allow_redirects)


def inbox(number, channel):
    url = f"{CONTROL}/v1/handsets/{number.lstrip('+')}/messages?channel={channel}"
    with urllib.request.urlopen(url) as r:
        return [m["text"] for m in json.load(r)["messages"]]


def code_of(number, channel, n=1):
    for _ in range(400):
        texts = inbox(number, channel)
        if len(texts) >= n:
            digits = ""
            for c in texts[n - 1]:
                if c.isdigit():
                    digits += c
                elif c != " " and len(digits) >= 4:
                    break
                elif c != " ":
                    digits = ""
            return digits
        time.sleep(0.025)
    raise AssertionError(f"no message {n} on {channel} reached {number}")


def expect_error(what, call, status, code):
    try:
        call()
    except TwilioRestException as e:
        assert (e.status, e.code) == (status, code), f"{what}: got {e.status} {e.code} {e.msg}"
        print(f"ok {what}: {e.status} {e.code}")
        return
    raise AssertionError(f"{what}: no error")


client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=LocalHttpClient())
service = client.verify.v2.services(SERVICE)

# verifications.create, then a wrong and the right code through verification_checks.create.
v = service.verifications.create(to=MOBILE, channel="sms")
assert v.status == "pending" and v.channel == "sms" and v.sid.startswith("VE"), v
assert v.to == MOBILE and v.account_sid == ACCOUNT_SID and v.service_sid == SERVICE, v
assert len(v.send_code_attempts) == 1 and v.valid is False, v
print("ok verifications.create", v.sid)
fetched = service.verifications(v.sid).fetch()
assert fetched.sid == v.sid and fetched.status == "pending", fetched
code = code_of(MOBILE, "sms")
wrong = "000000" if code != "000000" else "111111"
check = service.verification_checks.create(to=MOBILE, code=wrong)
assert check.status == "pending" and check.valid is False, check
check = service.verification_checks.create(to=MOBILE, code=code)
assert check.status == "approved" and check.valid is True and check.sid == v.sid, check
print("ok verification_checks.create approved")
expect_error("fetch after approval", lambda: service.verifications(v.sid).fetch(), 404, 20404)
expect_error("check after approval", lambda: service.verification_checks.create(to=MOBILE, code=code), 404, 20404)

# By VerificationSid, and five wrong codes then max attempts.
v = service.verifications.create(to="+447700900124", channel="sms")
for _ in range(5):
    assert service.verification_checks.create(verification_sid=v.sid, code=wrong).status == "pending"
expect_error("sixth check", lambda: service.verification_checks.create(verification_sid=v.sid, code=wrong), 429, 60202)

# Cancel through the update endpoint.
v = service.verifications.create(to="+447700900125", channel="sms")
canceled = service.verifications(v.sid).update(status="canceled")
assert canceled.status == "canceled", canceled
expect_error("check after cancel", lambda: service.verification_checks.create(verification_sid=v.sid, code=wrong), 404, 20404)

# A landline: SMS refused (60205), a call works and the code is heard.
expect_error("sms to a landline", lambda: service.verifications.create(to=LANDLINE, channel="sms"), 400, 60205)
v = service.verifications.create(to=LANDLINE, channel="call")
assert v.channel == "call", v
heard = code_of(LANDLINE, "voice")
assert service.verification_checks.create(to=LANDLINE, code=heard).status == "approved"
print("ok call to a landline")

# The fraud guard, an invalid number, the send limit.
expect_error("premium number", lambda: service.verifications.create(to=PREMIUM, channel="sms"), 403, 60410)
expect_error("invalid number", lambda: service.verifications.create(to="+44 7700", channel="sms"), 400, 60200)
n = "+447700900126"
for _ in range(5):
    service.verifications.create(to=n, channel="sms")
    service.verification_checks.create(to=n, code=wrong)
expect_error("sixth send", lambda: service.verifications.create(to=n, channel="sms"), 429, 60203)

# Wrong credentials.
bad = Client(ACCOUNT_SID, "not-the-token", http_client=LocalHttpClient())
expect_error("wrong auth token", lambda: bad.verify.v2.services(SERVICE).verifications.create(to=MOBILE, channel="sms"), 401, 20003)
print("all ok")
