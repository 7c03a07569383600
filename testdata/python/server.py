# server.py: the timestamp server of the article "Network Programming in
# Python" (John Paul, 2019), made to run on Python 3 with the fewest
# changes. socklab's tests (lessons/python_test.go) run it against
# 'socklab client'.
#
# Fixes, each marked below:
#   FIX 1  The log line printed `addr`, a name that does not exist (accept's
#          result is bound to client_addr): NameError at the first client.
#   FIX 2  Python 3 sockets carry bytes, not str: the reply is built from
#          bytes. The article's '[{}] {}'.format(ctime(), data) would give
#          "[...] b'hello'", and send() refuses a str anyway.
# Added for the tests, not fixes:
#   ADD 1  HOST and PORT may be given: python3 server.py [HOST [PORT]].
#          The defaults are still the article's 0.0.0.0 and 21567.
#   ADD 2  Once listening, one line says where, so that a test that asks
#          for port 0 learns the port and knows it may connect.
# Left as the article has them, on purpose (see lessons/17-errata.md):
# send() where sendall() is meant, binding 0.0.0.0 by default, no
# SO_REUSEADDR, and the server_sock.close() that never runs.

from time import ctime
import socket
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else '0.0.0.0'  # ADD 1
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 21567  # ADD 1
BUFSIZE = 1024
ADDR = (HOST, PORT)

# Set up the server
server_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server_sock.bind(ADDR)
server_sock.listen(5)
print('listening on {} {}'.format(*server_sock.getsockname()), flush=True)  # ADD 2

while True:
    print('waiting for connection...')
    client_sock, client_addr = server_sock.accept()
    print('...connected from: ', client_addr)  # FIX 1

    while True:
        data = client_sock.recv(BUFSIZE)
        if not data:
            break
        client_sock.send(b'[%s] %s' % (ctime().encode(), data))  # FIX 2
    client_sock.close()
server_sock.close()
