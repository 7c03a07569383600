#!/usr/bin/env python3
"""The article's client in Python 3, for any socket type socklab serves.

    echo_client.py FAMILY TYPE ADDRESS MESSAGE

FAMILY is inet, inet6 or unix; TYPE is stream, dgram or seqpacket; ADDRESS
is host:port, [host]:port, /path or @abstract. It sends MESSAGE once and
writes the reply to stdout, byte for byte. A stream client shuts down its
sending side (shutdown(SHUT_WR)) and reads until the server closes.
"""
import socket
import sys

FAMILIES = {"inet": socket.AF_INET, "inet6": socket.AF_INET6, "unix": socket.AF_UNIX}
TYPES = {"stream": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM, "seqpacket": socket.SOCK_SEQPACKET}


def address(family, text):
    if family == socket.AF_UNIX:
        # Linux abstract names start with a NUL byte; socklab writes "@".
        return "\0" + text[1:] if text.startswith("@") else text
    host, _, port = text.rpartition(":")
    return (host.strip("[]"), int(port))


def main():
    family, kind, addr, message = FAMILIES[sys.argv[1]], TYPES[sys.argv[2]], sys.argv[3], sys.argv[4]
    with socket.socket(family, kind) as s:
        s.settimeout(20)
        if family == socket.AF_UNIX and kind == socket.SOCK_DGRAM:
            # The server replies to the sender's address; binding the empty
            # name asks Linux for a free abstract one.
            s.bind("")
        s.connect(address(family, addr))
        s.sendall(message.encode())
        if kind == socket.SOCK_STREAM:
            s.shutdown(socket.SHUT_WR)
            while True:
                data = s.recv(4096)
                if not data:
                    break
                sys.stdout.buffer.write(data)
        else:
            sys.stdout.buffer.write(s.recv(1 << 18))


if __name__ == "__main__":
    main()
