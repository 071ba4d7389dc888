#!/usr/bin/env python3
"""submit_sm latency as the wire saw it, from a packet capture.

Reads a classic pcap file (tcpdump -w; microsecond or nanosecond timestamps; Ethernet,
BSD loopback, Linux cooked v1/v2 or raw IP link types), reassembles each TCP direction,
cuts it into SMPP PDUs by command_length, and pairs every submit_sm with its submit_sm_resp
(or generic_nack) by sequence number within its connection. A PDU's time is the time of the
packet that carried its last octet: when the server could first have read the whole
request, and when the client could first have read the whole response.

It prints count, p50, p90, p99, p99.9 and max in microseconds (nearest rank), so they can
be set beside `loadgen smpp`'s submit_service_us (its clock starts at the write). Python
standard library only.

Usage: bench/wire_latency.py CAPTURE.pcap [--port N] [--json]
       (capture with e.g. `tcpdump -i lo -w x.pcap --time-stamp-precision=nano port N`)
"""

import argparse
import json
import math
import struct
import sys

SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
GENERIC_NACK = 0x80000000
# Most octets a PDU may claim before the stream is taken to be out of sync.
MAX_PDU = 1 << 20


def packets(path):
    """Yields (seconds, link type, frame octets) for every packet of a classic pcap file."""
    with open(path, "rb") as f:
        header = f.read(24)
        if len(header) < 24:
            raise SystemExit(f"{path}: not a pcap file (too short)")
        magic = header[:4]
        formats = {
            b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
            b"\xa1\xb2\xc3\xd4": (">", 1e-6),
            b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
            b"\xa1\xb2\x3c\x4d": (">", 1e-9),
        }
        if magic not in formats:
            raise SystemExit(f"{path}: not a classic pcap file (pcapng? use tcpdump -w)")
        endian, unit = formats[magic]
        linktype = struct.unpack(endian + "I", header[20:24])[0] & 0x0FFFFFFF
        rec = struct.Struct(endian + "IIII")
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            sec, frac, incl, _orig = rec.unpack(h)
            data = f.read(incl)
            if len(data) < incl:
                return
            yield sec + frac * unit, linktype, data


def ip_payload(linktype, frame):
    """The IP packet inside a link-layer frame, or None."""
    if linktype == 1:  # Ethernet
        off, ethertype = 14, struct.unpack("!H", frame[12:14])[0]
        while ethertype in (0x8100, 0x88A8):  # VLAN tags
            ethertype = struct.unpack("!H", frame[off + 2 : off + 4])[0]
            off += 4
        return frame[off:] if ethertype in (0x0800, 0x86DD) else None
    if linktype in (0, 108):  # BSD loopback (host or network order family)
        return frame[4:]
    if linktype == 113:  # Linux cooked v1
        return frame[16:] if struct.unpack("!H", frame[14:16])[0] in (0x0800, 0x86DD) else None
    if linktype == 276:  # Linux cooked v2
        return frame[20:] if struct.unpack("!H", frame[0:2])[0] in (0x0800, 0x86DD) else None
    if linktype in (12, 101, 228, 229):  # raw IP
        return frame
    return None


def tcp_segment(ip):
    """(src, dst, sport, dport, seq, flags, payload) of a TCP segment, or None."""
    if not ip:
        return None
    version = ip[0] >> 4
    if version == 4:
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        if ip[9] != 6:
            return None
        src, dst = ip[12:16], ip[16:20]
        tcp = ip[ihl:total]
    elif version == 6:
        plen = struct.unpack("!H", ip[4:6])[0]
        if ip[6] != 6:  # extension headers are not expected on loopback captures
            return None
        src, dst = ip[8:24], ip[24:40]
        tcp = ip[40 : 40 + plen]
    else:
        return None
    if len(tcp) < 20:
        return None
    sport, dport, seq = struct.unpack("!HHI", tcp[0:8])
    doff = (tcp[12] >> 4) * 4
    flags = tcp[13]
    return src, dst, sport, dport, seq, flags, tcp[doff:]


class Direction:
    """One direction of a TCP connection, reassembled and cut into PDUs."""

    def __init__(self):
        self.next_seq = None
        self.buf = bytearray()
        self.out_of_sync = False

    def feed(self, seq, flags, payload):
        """Adds a segment; returns the octets that extend the stream in order."""
        syn = flags & 0x02
        if syn:
            self.next_seq = (seq + 1) & 0xFFFFFFFF
            return b""
        if self.next_seq is None:
            # Capture started mid-connection: take the first segment as the start.
            self.next_seq = seq
        delta = (seq - self.next_seq) & 0xFFFFFFFF
        if delta >= 0x80000000:
            # Starts before what we have: a retransmission; keep only the new tail.
            skip = (self.next_seq - seq) & 0xFFFFFFFF
            if skip >= len(payload):
                return b""
            payload = payload[skip:]
        elif delta != 0:
            # A gap (the capture dropped a packet): this direction cannot be cut reliably.
            self.out_of_sync = True
            return b""
        self.next_seq = (self.next_seq + len(payload)) & 0xFFFFFFFF
        return payload

    def pdus(self, data):
        """Appends `data`; yields (command_id, sequence_number) of every whole PDU."""
        if self.out_of_sync:
            return
        self.buf += data
        while len(self.buf) >= 16:
            length, cmd, _status, seq = struct.unpack("!IIII", self.buf[:16])
            if length < 16 or length > MAX_PDU:
                self.out_of_sync = True
                return
            if len(self.buf) < length:
                return
            del self.buf[:length]
            yield cmd, seq


def percentile(sorted_values, q):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture")
    ap.add_argument("--port", type=int, help="the SMSC's port (default: every TCP flow)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()

    directions = {}
    # (connection, sequence_number) -> time of the submit_sm
    sent = {}
    latencies = []
    unanswered_resps = 0
    resyncs = 0
    for t, linktype, frame in packets(args.capture):
        seg = tcp_segment(ip_payload(linktype, frame))
        if seg is None:
            continue
        src, dst, sport, dport, seq, flags, payload = seg
        if args.port is not None and args.port not in (sport, dport):
            continue
        key = (src, sport, dst, dport)
        d = directions.get(key)
        if d is None:
            d = directions[key] = Direction()
        fresh = d.feed(seq, flags, payload)
        was_out = d.out_of_sync
        # A connection is named by its two ends in a fixed order, so both directions agree.
        conn = tuple(sorted([(src, sport), (dst, dport)]))
        for cmd, pdu_seq in d.pdus(fresh):
            if cmd == SUBMIT_SM:
                sent[(conn, pdu_seq)] = t
            elif cmd in (SUBMIT_SM_RESP, GENERIC_NACK):
                t0 = sent.pop((conn, pdu_seq), None)
                if t0 is None:
                    unanswered_resps += 1
                else:
                    latencies.append((t - t0) * 1e6)
        if d.out_of_sync and not was_out:
            resyncs += 1
    latencies.sort()
    figures = {
        "count": len(latencies),
        "p50": percentile(latencies, 0.50),
        "p90": percentile(latencies, 0.90),
        "p99": percentile(latencies, 0.99),
        "p999": percentile(latencies, 0.999),
        "max": latencies[-1] if latencies else 0.0,
        "unanswered_submits": len(sent),
        "responses_without_submit": unanswered_resps,
        "directions_out_of_sync": resyncs,
    }
    if args.json:
        json.dump(figures, sys.stdout)
        print()
    else:
        print(
            "submit_sm -> submit_sm_resp on the wire (us): count {count}  p50 {p50:.0f}  "
            "p90 {p90:.0f}  p99 {p99:.0f}  p99.9 {p999:.0f}  max {max:.0f}".format(**figures)
        )
        print(
            "  unanswered submit_sm {unanswered_submits}, responses without a submit_sm "
            "{responses_without_submit}, directions out of sync {directions_out_of_sync}".format(
                **figures
            )
        )
    return 1 if resyncs else 0


if __name__ == "__main__":
    sys.exit(main())
