#!/usr/bin/env bash
# Location-feed load benchmark on loopback, with the real clients and with Go
# senders. Prints events (or requests) per second handed to a consumer.
#
#   deploy/bench/apfeed-load.sh [SYSLOG_LINES] [RADIUS_REQUESTS] [RADCLIENT_PARALLEL]
#
#   1. syslog, util-linux logger: one process per line for 2 s (a shell loop),
#      then one process sending SYSLOG_LINES (default 50000) hostapd lines from a
#      file (-f) over TCP (octet counting) and over UDP, RFC 5424;
#   2. syslog, Go sender over UDP (BenchmarkReceiverUDP, 3 s);
#   3. RADIUS, FreeRADIUS radclient: RADIUS_REQUESTS (default 20000) distinct
#      Start / Interim-Update requests from a file, RADCLIENT_PARALLEL (default
#      255, radclient's maximum) in flight;
#   4. RADIUS, Go NAS over UDP (BenchmarkListenerUDP, 3 s, 64 in flight);
#   5. the parsers alone (BenchmarkParse*).
#
# Needs Go, util-linux (logger) and freeradius-utils (radclient). No root.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HALLMONITOR_APFEED_LINES=${1:-50000}
export HALLMONITOR_RADIUS_REQUESTS=${2:-20000}
export HALLMONITOR_RADCLIENT_PARALLEL=${3:-255}
export HALLMONITOR_REQUIRE_LAB=1 # a missing tool is an error here, not a skip
for tool in logger radclient; do
	command -v "$tool" >/dev/null || { echo "apfeed-load.sh needs $tool (util-linux / freeradius-utils)" >&2; exit 1; }
done
echo "== syslog: logger (real client)"
go test -run '^$' -bench '^BenchmarkLoggerLoad$' -benchtime 1x -v ./adapters/apfeed/ | grep -E 'logger|FAIL' || true
echo "== syslog: Go sender, end to end over UDP"
go test -run '^$' -bench '^BenchmarkReceiverUDP$' -benchtime 3s ./adapters/apfeed/ | grep -E '^Benchmark|FAIL'
echo "== RADIUS: radclient (real client)"
go test -run '^$' -bench '^BenchmarkRadclientLoad$' -benchtime 1x -v ./adapters/radius/ | grep -E 'radclient -f|FAIL' || true
echo "== RADIUS: Go NAS, end to end over UDP"
go test -run '^$' -bench '^BenchmarkListenerUDP$' -benchtime 3s ./adapters/radius/ | grep -E '^Benchmark|FAIL'
echo "== parsers alone"
go test -run '^$' -bench '^BenchmarkParse' -benchtime 1s ./adapters/apfeed/ ./adapters/radius/ | grep -E '^Benchmark|FAIL'
