#!/usr/bin/env bash
# DNS guard throughput on loopback, with dnsperf (the real load tool) and, in
# the same run, dnsmasq forwarding to the same test upstream for comparison.
#
#   deploy/bench/dnsguard.sh [SECONDS]
#
#   1. dnsperf (-c 8 -q 256) for SECONDS (default 5) each against:
#      guard and dnsmasq answering locally (canaries, DoH names → NXDOMAIN),
#      guard and dnsmasq forwarding 1000 distinct names to a Go test upstream
#      on 127.0.0.1, in a process of its own (dnsmasq with --cache-size=0, so
#      it forwards every query as the guard does); dnsmasq and the upstream
#      are ended by PID. Each line gives queries/s, queries lost, and the CPU
#      time per query of the server under test and of the upstream (/proc):
#      the CPU figure is steadier than queries/s when other jobs share the
#      cores. HALLMONITOR_DNSPERF_RUNS=guard_forwarded,... picks some runs;
#   2. the Go benchmarks (Go UDP clients in the same process, 3 s each).
#
# Needs Go, dnsperf and dnsmasq (Debian packages dnsperf, dnsmasq). No root.
# Both servers, dnsperf and the upstream share this machine's cores: the
# figures are a lower bound for a dedicated gateway.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HALLMONITOR_DNSPERF_SECONDS=${1:-5}
export HALLMONITOR_REQUIRE_LAB=1 # a missing tool is an error here, not a skip
for tool in dnsperf dnsmasq; do
	command -v "$tool" >/dev/null || { echo "dnsguard.sh needs $tool (apt-get install $tool)" >&2; exit 1; }
done
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "== dnsperf: guard vs dnsmasq, same upstream"
go test -run '^$' -bench '^BenchmarkDnsperf$' -benchtime 1x -v ./adapters/dnsguard/ | grep -E 'dnsperf |guard stats|FAIL' || true
echo "== Go UDP clients, end to end"
go test -run '^$' -bench '^Benchmark(Local|Forward)UDP$' -benchtime 3s ./adapters/dnsguard/ | grep -E '^Benchmark|FAIL'
