"""The TCP sockets a process tree listens on, read from /proc (Linux): /proc/net/tcp{,6} matched to each process's fds."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

_LISTEN = "0A"


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (from each thread's ``children`` list)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except OSError:  # the process or thread ended meanwhile
                continue
    return found


def listening_sockets(pid: int) -> list[tuple[int, str, str, int]]:
    """``(pid, command, address, port)`` for every listening TCP socket held by ``pid``'s process tree."""
    table = _listening_by_inode()
    found = []
    for member in process_tree(pid):
        for inode in _socket_inodes(member):
            if inode in table:
                address, port = table[inode]
                found.append((member, _command(member), address, port))
    return found


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1, or an IPv4 loopback address mapped into IPv6 (``::ffff:127.0.0.1``)."""
    parsed = ipaddress.ip_address(address)
    mapped = getattr(parsed, "ipv4_mapped", None)
    return (mapped or parsed).is_loopback


def _listening_by_inode() -> dict[int, tuple[str, int]]:
    table = {}
    for path, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(path).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != _LISTEN:
                continue
            hex_address, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_address)
            # The kernel prints each 32-bit word of the address in host (little-endian) order.
            raw = b"".join(raw[index : index + 4][::-1] for index in range(0, len(raw), 4))
            table[int(fields[9])] = (socket.inet_ntop(family, raw), int(hex_port, 16))
    return table


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return inodes
    for descriptor in descriptors:
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"
