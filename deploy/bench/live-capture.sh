#!/usr/bin/env bash
# Live capture lab benchmark: two fresh network namespaces joined by a veth;
# one sends matching frames (DNS queries and DHCP requests from 3,000
# synthetic devices, 802.1Q tagged) with raw AF_PACKET writes at a fixed
# rate, the other captures them with capture.Live. Prints frames sent and
# received per second and the kernel's drop count (PACKET_STATISTICS).
# Needs root and iproute2; the namespaces are removed when it ends.
#
#   deploy/bench/live-capture.sh [RATE_PER_S] [SECONDS] [RCVBUF_BYTES]
#
# RATE 0 is not accepted: to find the sender's ceiling pass a rate it cannot
# reach (e.g. 1000000). RCVBUF defaults to Live's own (8 MiB).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "live-capture.sh needs root (network namespaces, raw sockets)" >&2; exit 1; }
export HALLMONITOR_LIVE_RATE=${1:-150000}
export HALLMONITOR_LIVE_SECONDS=${2:-3}
[ -z "${3:-}" ] || export HALLMONITOR_LIVE_RCVBUF=$3
export HALLMONITOR_REQUIRE_LAB=1 # a missing tool is an error here, not a skip
go test -run '^$' -bench '^BenchmarkLiveCapture$' -benchtime 1x -v ./adapters/capture/
