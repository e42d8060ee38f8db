#!/usr/bin/env bash
# Forwarding throughput through the gateway with 2,000 devices blocked, for both
# enforcement backends (nftables; iptables + ipset), against the same run with none.
#
#   sudo deploy/bench/forwarding.sh [SECONDS] [ROUNDS]
#
# Runs TestLabForwardingThroughput (adapters/firewall): three network namespaces it
# creates (pupil client — router — upstream, veth pairs), iperf3 -s upstream, and
# iperf3 -u -l 64 -b 0 (64-byte UDP payloads, as fast as it can) from the client for
# SECONDS (default 1: the runs of a round stay close in time) per run. Per backend,
# ROUNDS (default 12) rounds of, in alternating order:
#   none                  nothing of ours installed (Flush)
#   2,000 blocked         the backend's Set with 2,000 random other devices
#                         (MACs; for iptables also addresses in the pupil /20, as the
#                         lab kernel has no hash:mac)
#   installed, 0 blocked  the backend's Set with nobody blocked
#   one nft rule per MAC  the naive alternative, for reference
# The figure is packets/s the router forwarded (its upstream tx counter). Printed:
# per backend the median over rounds of (condition / none in the same round).
# Issue target: 2,000 blocked ≥ 0.90 of none. The test itself asserts a looser 0.50
# (noise on shared cores); a linear ruleset lands near 0.1.
#
# Needs root, Go, ip, nft, iptables, ipset and iperf3. Everything (namespaces,
# iperf3 processes, rules) is removed when the test ends, also on failure; nothing
# touches the host's own network or firewall.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "forwarding.sh needs root (network namespaces)" >&2; exit 1; }
for tool in go ip nft iptables ipset iperf3; do
	command -v "$tool" >/dev/null || { echo "forwarding.sh needs $tool" >&2; exit 1; }
done
export HALLMONITOR_REQUIRE_LAB=1 # a missing tool is an error here, not a skip
export HALLMONITOR_FWD_SECONDS=${1:-1} HALLMONITOR_FWD_ROUNDS=${2:-12}
export HALLMONITOR_FWD_EMPTY=1 HALLMONITOR_FWD_LINEAR=1
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
out=$(go test -count=1 -timeout 30m -run '^TestLabForwardingThroughput$' -v ./adapters/firewall/ 2>&1) || status=$?
echo "$out" | grep -E 'round [0-9]+:' | sed 's/^ *//' || true
echo "== results (ratio = median over rounds of condition / none)"
echo "$out" | grep -E 'MEASURED|FAIL|want' | sed 's/^ *[a-z_]*\.go:[0-9]*: //' || true
exit "${status:-0}"
