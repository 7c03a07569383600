#!/usr/bin/env python3
"""The article's timestamp echo server in Python 3, for any socket type.

    echo_server.py FAMILY TYPE ADDRESS

FAMILY is inet, inet6 or unix; TYPE is stream, dgram or seqpacket; ADDRESS
is host:port (port 0 picks a free one), [host]:port, /path or @abstract.
Once it listens it prints "ready ADDRESS" with the real address. Every
request is answered with "[" + time.ctime() + "] " + the request: one reply
per recv(1024) on a stream, one per message otherwise.
"""
import socket
import sys
import time

FAMILIES = {"inet": socket.AF_INET, "inet6": socket.AF_INET6, "unix": socket.AF_UNIX}
TYPES = {"stream": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM, "seqpacket": socket.SOCK_SEQPACKET}


def address(family, text):
    if family == socket.AF_UNIX:
        return "\0" + text[1:] if text.startswith("@") else text
    host, _, port = text.rpartition(":")
    return (host.strip("[]"), int(port))


def name(family, addr):
    if family == socket.AF_UNIX:
        if isinstance(addr, bytes):
            addr = addr.decode()
        return "@" + addr[1:] if addr.startswith("\0") else addr
    if family == socket.AF_INET6:
        return "[%s]:%d" % addr[:2]
    return "%s:%d" % addr


def reply(data):
    return b"[" + time.ctime().encode() + b"] " + data


def main():
    family, kind = FAMILIES[sys.argv[1]], TYPES[sys.argv[2]]
    s = socket.socket(family, kind)
    if family != socket.AF_UNIX:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(address(family, sys.argv[3]))
    if kind != socket.SOCK_DGRAM:
        s.listen(5)
    print("ready", name(family, s.getsockname()), flush=True)
    if kind == socket.SOCK_DGRAM:
        while True:
            data, peer = s.recvfrom(1 << 18)
            s.sendto(reply(data), peer)
    while True:
        conn, _ = s.accept()
        with conn:
            while True:
                data = conn.recv(1024)
                if not data:
                    break
                conn.sendall(reply(data))


if __name__ == "__main__":
    main()
