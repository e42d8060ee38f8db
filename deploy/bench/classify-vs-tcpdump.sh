#!/usr/bin/env bash
# Times `hallmonitor classify --pcap FILE` against tcpdump reading the same file
# with the capture's kernel filter expressed in pcap syntax, on a generated
# 1,000,000-packet mixed pcap (adapters/capture/internal/synth: 70 % TCP,
# 12 % QUIC, DNS, ARP, mDNS, DHCP, DHCPv6, ND; 3,000 devices; 802.1Q tags).
# Prints both mean times and the ratio classify/tcpdump (target <= 1.0).
#
#   deploy/bench/classify-vs-tcpdump.sh [PACKETS] [RUNS]
#
# Uses hyperfine when installed, else RUNS timed runs of each (bash TIMEFORMAT).
set -euo pipefail
cd "$(dirname "$0")/../.."
packets=${1:-1000000}
runs=${2:-5}
command -v tcpdump >/dev/null || { echo "tcpdump not installed (Debian: apt-get install tcpdump)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/hallmonitor" ./cmd/hallmonitor
go run ./adapters/capture/internal/genpcap -n "$packets" -devices 3000 -o "$tmp/mixed.pcap"
ls -l "$tmp/mixed.pcap" | awk '{printf "pcap: %s bytes\n", $5}'

# tcpdump's link-level filter: VLAN-tagged frames need the "vlan" keyword, so
# the expression matches both untagged and tagged frames, as the BPF filter
# Live attaches does (adapters/capture/filter.go).
f='udp port 67 or udp port 68 or udp port 53 or arp'
filter="($f) or (vlan and ($f))"
classify=("$tmp/hallmonitor" classify --pcap "$tmp/mixed.pcap")
tcpdumpc=(tcpdump -nr "$tmp/mixed.pcap" "$filter" -w /dev/null)

# Warm the page cache and check both succeed.
"${classify[@]}" >"$tmp/classify.out"
"${tcpdumpc[@]}" 2>"$tmp/tcpdump.err"
echo "classify: $(wc -l <"$tmp/classify.out") devices; tcpdump: $(grep -c . "$tmp/tcpdump.err" || true) lines of stderr: $(tr '\n' ' ' <"$tmp/tcpdump.err")"

mean() { # mean wall seconds of RUNS runs of "$@"
	local total=0 t
	for _ in $(seq "$runs"); do
		t=$( { TIMEFORMAT=%R; time "$@" >/dev/null 2>&1; } 2>&1 )
		total=$(awk -v a="$total" -v b="$t" 'BEGIN{print a+b}')
	done
	awk -v a="$total" -v n="$runs" 'BEGIN{printf "%.4f", a/n}'
}

if command -v hyperfine >/dev/null; then
	hyperfine --warmup 1 --runs "$runs" --export-json "$tmp/h.json" \
		-n classify "$(printf '%q ' "${classify[@]}")" -n tcpdump "$(printf '%q ' "${tcpdumpc[@]}")" >&2
	c=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(r[0]["mean"])' "$tmp/h.json")
	t=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(r[1]["mean"])' "$tmp/h.json")
	how="hyperfine, $runs runs, 1 warm-up"
else
	c=$(mean "${classify[@]}")
	t=$(mean "${tcpdumpc[@]}")
	how="mean of $runs runs, bash time"
fi
printf 'packets:  %d\nclassify: %.3f s\ntcpdump:  %.3f s\nratio classify/tcpdump: %.2f (%s)\n' "$packets" "$c" "$t" "$(awk -v a="$c" -v b="$t" 'BEGIN{print a/b}')" "$how"
