# client.py: the timestamp client of the article "Network Programming in
# Python" (John Paul, 2019), made to run on Python 3 with the fewest
# changes. socklab's tests (lessons/python_test.go) run it against socklab's
# server.
#
# Fixes, each marked below:
#   FIX 1  raw_input() is called input() in Python 3.
#   FIX 2  Python 3 sockets carry bytes, not str: encode what is sent
#          (send() refuses a str) and decode what is printed (print(data)
#          would show b'[...] hello').
# Added for the tests, not a fix:
#   ADD 1  HOST and PORT may be given: python3 client.py [HOST [PORT]].
#          The defaults are still the article's 0.0.0.0 and 21567.
# Left as the article has them, on purpose (see lessons/17-errata.md):
# connecting to 0.0.0.0 by default (Linux takes it for this host; not every
# system does), send() where sendall() is meant, one recv(1024) taken for
# the whole reply, and input() raising EOFError when input ends without an
# empty line.

import socket
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else '0.0.0.0'  # ADD 1
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 21567  # ADD 1
BUFSIZE = 1024
ADDR = (HOST, PORT)

client_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client_sock.connect(ADDR)

while True:
    data = input('> ')  # FIX 1
    if not data:
        break
    client_sock.send(data.encode())  # FIX 2
    data = client_sock.recv(BUFSIZE)
    if not data:
        break
    print(data.decode())  # FIX 2

client_sock.close()
