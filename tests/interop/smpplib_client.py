#!/usr/bin/env python3
"""Interop check of an SMSC (carrier-sim) with python smpplib, an independent SMPP client.

Binds as a transceiver, submits a GSM-7 message that uses the extension table
and a long UCS-2 message that smpplib splits into UDH-concatenated parts, then
waits for one delivery receipt per submit_sm and checks that every receipt's
message id (receipted_message_id TLV and the `id:` field of the receipt text)
is one of the ids the SMSC returned in submit_sm_resp.

Prints exactly one JSON line on stdout with the outcome and exits 0 only when
every submitted part got a matching DELIVRD receipt in time. Diagnostics go to
stderr. Exit codes: 0 ok, 1 mismatch or bad receipt, 2 timeout, 3 SMPP or
connection error.
"""

import argparse
import json
import re
import socket
import sys
import time

try:
    import smpplib.client
    import smpplib.consts
    import smpplib.exceptions
    import smpplib.gsm
except ImportError as err:  # pragma: no cover - depends on the machine
    print(
        json.dumps({"ok": False, "error": f"smpplib not importable: {err}; run `bash scripts/install-peers.sh`"}),
        flush=True,
    )
    sys.exit(3)

DEFAULT_GSM7_TEXT = "Your code is 123456 {€} [ok] ~^|\\"
DEFAULT_UCS2_TEXT = (
    "Ваш код подтверждения: 482913. Никому не сообщайте этот код, даже сотрудникам банка. "
    "🔐 Ο κωδικός σας είναι 482913 και ισχύει για δέκα λεπτά."
)

# esm_class message-type bits (SMPP 3.4 section 5.2.12): 0x04 marks an SMSC delivery receipt.
ESM_TYPE_MASK = 0x3C
ESM_DELIVERY_RECEIPT = 0x04

RECEIPT_ID_RE = re.compile(r"\bid:(\S+)")
RECEIPT_STAT_RE = re.compile(r"\bstat:(\S+)")


def text_of(value):
    """smpplib hands out octet strings as bytes; ids are ASCII by the spec."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace")
    return str(value)


def addr_ton_npi(addr):
    """International digits get TON 1/NPI 1; anything else is an alphanumeric sender (TON 5)."""
    digits = addr.lstrip("+")
    if digits.isdigit():
        return digits, smpplib.consts.SMPP_TON_INTL, smpplib.consts.SMPP_NPI_ISDN
    return addr, smpplib.consts.SMPP_TON_ALNUM, smpplib.consts.SMPP_NPI_UNK


class Session:
    """Tracks what was submitted and which receipts came back, keyed by SMSC message id."""

    def __init__(self):
        self.pending_seq = {}  # submit_sm sequence -> label
        self.submitted = {}  # message id -> label
        self.labels = {}  # label -> [message ids in part order]
        self.submit_errors = []
        self.receipts = []  # every receipt as seen, for the report
        self.matched = set()
        self.unmatched = []

    def on_submit_resp(self, pdu):
        label = self.pending_seq.pop(pdu.sequence, None)
        if pdu.status != smpplib.consts.SMPP_ESME_ROK:
            self.submit_errors.append({"label": label, "sequence": pdu.sequence, "status": int(pdu.status)})
            return
        msg_id = text_of(pdu.message_id)
        if label is None or not msg_id:
            self.submit_errors.append({"label": label, "sequence": pdu.sequence, "message_id": msg_id})
            return
        self.submitted[msg_id] = label
        self.labels[label].append(msg_id)

    def on_deliver(self, pdu):
        """Returns the deliver_sm_resp status: smpplib sends whatever this handler returns."""
        esm = int(pdu.esm_class or 0)
        if esm & ESM_TYPE_MASK != ESM_DELIVERY_RECEIPT:
            print(f"ignoring non-receipt deliver_sm esm_class=0x{esm:02x}", file=sys.stderr)
            return smpplib.consts.SMPP_ESME_ROK
        body = text_of(pdu.short_message) or ""
        tlv_id = text_of(getattr(pdu, "receipted_message_id", None))
        state = getattr(pdu, "message_state", None)
        m = RECEIPT_ID_RE.search(body)
        text_id = m.group(1) if m else None
        m = RECEIPT_STAT_RE.search(body)
        stat = m.group(1) if m else None
        seen = {"tlv_id": tlv_id, "text_id": text_id, "stat": stat, "message_state": state, "text": body}
        self.receipts.append(seen)

        problems = []
        ids = [i for i in (tlv_id, text_id) if i]
        if not ids:
            problems.append("receipt carries no message id")
        for i in ids:
            if i not in self.submitted:
                problems.append(f"id {i!r} was never returned in a submit_sm_resp")
        if tlv_id and text_id and tlv_id != text_id:
            problems.append(f"receipted_message_id {tlv_id!r} differs from text id {text_id!r}")
        if stat != "DELIVRD":
            problems.append(f"stat is {stat!r}, expected DELIVRD")
        # message_state 2 is DELIVERED (SMPP 3.4 section 5.2.28).
        if state is not None and int(state) != 2:
            problems.append(f"message_state TLV is {state}, expected 2 (DELIVERED)")
        if problems:
            seen["problems"] = problems
            self.unmatched.append(seen)
        else:
            matched_id = ids[0]
            if matched_id in self.matched:
                seen["problems"] = ["duplicate receipt"]
                self.unmatched.append(seen)
            else:
                self.matched.add(matched_id)
        return smpplib.consts.SMPP_ESME_ROK

    def missing(self):
        return sorted(set(self.submitted) - self.matched)

    def report(self, ok, error=None):
        out = {
            "ok": ok,
            "submitted": {label: ids for label, ids in self.labels.items()},
            "submitted_count": len(self.submitted),
            "receipts_matched": len(self.matched),
            "unmatched": self.unmatched,
            "missing_receipts": self.missing(),
            "submit_errors": self.submit_errors,
        }
        if error:
            out["error"] = error
        return out


def submit(client, session, label, text, src, dst):
    """Submits one logical message (several submit_sm when it needs splitting) with receipts requested."""
    parts, encoding, esm_class = smpplib.gsm.make_parts(text)
    session.labels[label] = []
    src_addr, src_ton, src_npi = addr_ton_npi(src)
    dst_addr, dst_ton, dst_npi = addr_ton_npi(dst)
    for part in parts:
        pdu = client.send_message(
            source_addr_ton=src_ton,
            source_addr_npi=src_npi,
            source_addr=src_addr,
            dest_addr_ton=dst_ton,
            dest_addr_npi=dst_npi,
            destination_addr=dst_addr,
            short_message=part,
            data_coding=encoding,
            esm_class=esm_class,
            registered_delivery=smpplib.consts.SMPP_SMSC_DELIVERY_RECEIPT_BOTH,
        )
        session.pending_seq[pdu.sequence] = label
    return len(parts), encoding


def pump_until(client, deadline, done):
    """Reads PDUs until done() holds; False when the deadline passed first."""
    while not done():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        # A short socket timeout keeps the overall deadline honest; smpplib
        # answers a read timeout with an enquire_link, which is harmless here.
        client._socket.settimeout(min(1.0, max(remaining, 0.05)))
        client.read_once()
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--system-id", default="test")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--to", required=True, help="destination number, digits (a leading + is stripped)")
    ap.add_argument("--from", dest="sender", default="12025550100", help="source address")
    ap.add_argument("--timeout", type=float, default=30.0, help="overall seconds to wait for responses and receipts")
    ap.add_argument("--gsm7-text", default=DEFAULT_GSM7_TEXT)
    ap.add_argument("--ucs2-text", default=DEFAULT_UCS2_TEXT)
    args = ap.parse_args()

    session = Session()
    client = smpplib.client.Client(args.host, args.port, timeout=min(args.timeout, 10.0), allow_unknown_opt_params=True)
    client.set_message_sent_handler(session.on_submit_resp)
    client.set_message_received_handler(session.on_deliver)
    deadline = time.monotonic() + args.timeout
    sent = {}
    code = 0
    error = None
    try:
        client.connect()
        client.bind_transceiver(system_id=args.system_id, password=args.password)
        n, enc = submit(client, session, "gsm7", args.gsm7_text, args.sender, args.to)
        sent["gsm7"] = {"parts": n, "data_coding": enc}
        # Wait for the first message's response so the SMSC sees them in a known order.
        if not pump_until(client, deadline, lambda: not session.pending_seq):
            raise TimeoutError("no submit_sm_resp for the GSM-7 message")
        n, enc = submit(client, session, "ucs2", args.ucs2_text, args.sender, args.to)
        sent["ucs2"] = {"parts": n, "data_coding": enc}
        if not pump_until(client, deadline, lambda: not session.pending_seq):
            raise TimeoutError("missing submit_sm_resp for the UCS-2 parts")
        if not pump_until(
            client,
            deadline,
            lambda: not session.missing() or session.unmatched or session.submit_errors,
        ):
            raise TimeoutError(f"receipts missing for {session.missing()}")
    except TimeoutError as err:
        error, code = f"timeout: {err}", 2
    except (smpplib.exceptions.PDUError, smpplib.exceptions.ConnectionError, socket.error) as err:
        error, code = f"smpp error: {err!r}", 3
    finally:
        try:
            if client.state != smpplib.consts.SMPP_CLIENT_STATE_CLOSED:
                client._socket.settimeout(2.0)
                client.unbind()
        except Exception as err:  # noqa: BLE001 - unbind is best effort at the end
            print(f"unbind failed: {err!r}", file=sys.stderr)
        try:
            client.disconnect()
        except Exception as err:  # noqa: BLE001
            print(f"disconnect failed: {err!r}", file=sys.stderr)

    if code == 0 and (session.unmatched or session.submit_errors or session.missing()):
        code = 1
        error = "receipt ids did not match the submitted ids"
    result = session.report(code == 0, error)
    result["sent"] = sent
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
