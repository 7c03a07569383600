#!/bin/sh
# stamp.sh: the timestamp echo for one request, for socat to run per client.
# dd reads once: one datagram, one seqpacket message, or one stream read.
# The "." keeps the request's trailing newlines from $(...).
req=$(dd bs=64k count=1 status=none; echo .)
printf '[%s] %s' "$(LC_ALL=C date '+%a %b %e %T %Y')" "${req%.}"
