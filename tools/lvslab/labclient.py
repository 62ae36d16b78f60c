# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Client-side probes for the lab, run inside a client namespace.

    labclient.py arp IFACE SRC_IP TARGET_IP [--wait SECONDS]

Broadcasts one ARP request "who has TARGET_IP" on IFACE and prints the MAC address of every
host that answers (one per line), so a test can see that only the director answers for a VIP
and no DR real server does. Needs root (a packet socket); standard library only.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import time
from pathlib import Path

ETH_P_ARP = 0x0806


def _mac(text: str) -> bytes:
    return bytes(int(x, 16) for x in text.split(":"))


def arp(iface: str, src_ip: str, target: str, wait: float) -> list[str]:
    src_mac = _mac(Path(f"/sys/class/net/{iface}/address").read_text().strip())
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    sock.bind((iface, ETH_P_ARP))
    tpa = socket.inet_aton(target)
    frame = (b"\xff" * 6 + src_mac + struct.pack("!H", ETH_P_ARP)
             + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + src_mac + socket.inet_aton(src_ip) + b"\x00" * 6 + tpa)
    sock.send(frame)
    seen: list[str] = []
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(2048)
        except TimeoutError:
            break
        if len(data) < 42 or struct.unpack("!H", data[12:14])[0] != ETH_P_ARP:
            continue
        op = struct.unpack("!H", data[20:22])[0]
        if op == 2 and data[28:32] == tpa:
            mac = ":".join(f"{b:02x}" for b in data[22:28])
            if mac not in seen:
                seen.append(mac)
    return seen


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="verb", required=True)
    p_arp = sub.add_parser("arp")
    p_arp.add_argument("iface")
    p_arp.add_argument("src_ip")
    p_arp.add_argument("target")
    p_arp.add_argument("--wait", type=float, default=2.0)
    args = parser.parse_args()
    for mac in arp(args.iface, args.src_ip, args.target, args.wait):
        sys.stdout.write(mac + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
