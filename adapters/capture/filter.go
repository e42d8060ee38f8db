package capture

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// Ports whose UDP traffic the kernel filter passes: DHCPv4 (67, 68), DNS (53),
// mDNS (5353), DHCPv6 (546, 547).
var filterPorts = []uint32{67, 68, 53, 5353, 546, 547}

// labelled is one instruction of a program with symbolic conditional jumps.
type labelled struct {
	label  string          // this instruction's label, if any
	ins    bpf.Instruction // for a conditional jump, Skip fields are filled from jt/jf
	jt, jf string          // jump targets ("" = next instruction)
}

// Filter returns the classic BPF program Live attaches to its sockets: it
// accepts ARP, IPv4 UDP (unfragmented or first fragment) and IPv6 UDP to or
// from filterPorts, and ICMPv6, untagged or inside up to maxFilterTags VLAN
// tags (802.1Q, 802.1ad, 0x9100); other tagged traffic stays in the kernel.
// Frames whose tag the kernel strips (VLAN offload) are seen untagged.
func Filter() ([]bpf.RawInstruction, error) { return filterProgram(false) }

// BypassFilter is Filter plus what filter-bypass detection needs (Live.Bypass,
// docs/bypass.md): TCP segments with SYN set and ACK clear (connection
// attempts, any port) and TCP segments to port 1194 (OpenVPN over TCP); UDP
// to ports 500, 4500 (IKE) and 1194 (OpenVPN); UDP to 443 and 853 whose first
// payload byte has the QUIC long-header bit (handshake packets only, not the
// bulk of a QUIC connection); and UDP datagrams of WireGuard's handshake
// initiation shape (148 bytes starting 01 00 00 00) to any port. IPv4 and IPv6
// (no extension headers) alike, untagged or tagged as for Filter.
func BypassFilter() ([]bpf.RawInstruction, error) { return filterProgram(true) }

// Ports the bypass filter passes UDP to without looking further (the decoder
// checks the IKE or OpenVPN header).
var bypassUDPPorts = []uint32{500, 4500, 1194}

// maxFilterTags is how many stacked VLAN tags the filter looks inside: one
// 802.1Q tag (a trunk port, or a frame whose tag the NIC did not strip) and an
// 802.1ad outer tag around it (QinQ). Frames with more tags are dropped.
const maxFilterTags = 2

// vlanTPIDs are the tag protocol identifiers the filter (like the decoder)
// steps over: 802.1Q, 802.1ad and the pre-standard 0x9100.
var vlanTPIDs = []uint32{etherTypeDot1Q, etherTypeQinQ, etherTypeQinQOld}

func filterProgram(bypass bool) ([]bpf.RawInstruction, error) {
	var prog []labelled
	for tags := 0; tags <= maxFilterTags; tags++ {
		prog = append(prog, filterBody(bypass, tags)...)
	}
	ins, err := resolve(prog)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(ins)
	if err != nil {
		return nil, fmt.Errorf("assemble capture filter: %w", err)
	}
	return raw, nil
}

// filterBody is the program for frames carrying tags VLAN tags: the same
// checks at offsets 4 bytes further per tag. Each body ends with its own
// reject and accept, so no jump crosses more than one body (classic BPF
// jumps skip at most 255 instructions).
func filterBody(bypass bool, tags int) []labelled {
	off := uint32(4 * tags)
	at := func(o uint32) uint32 { return o + off }
	lbl := func(s string) string { return fmt.Sprintf("%s%d", s, tags) }
	accept, reject := lbl("accept"), lbl("reject")
	jeq := func(v uint32, jt, jf string) labelled {
		return labelled{ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: v}, jt: jt, jf: jf}
	}
	prog := []labelled{
		{label: lbl("tag"), ins: bpf.LoadAbsolute{Off: at(12), Size: 2}}, // EtherType
		jeq(0x0806, accept, ""),
	}
	if tags < maxFilterTags {
		for _, tpid := range vlanTPIDs {
			prog = append(prog, jeq(tpid, fmt.Sprintf("tag%d", tags+1), ""))
		}
	}
	prog = append(prog,
		jeq(0x86dd, lbl("ipv6"), ""),
		jeq(0x0800, "", reject),
		// IPv4
		labelled{ins: bpf.LoadAbsolute{Off: at(23), Size: 1}}, // protocol
	)
	if bypass {
		prog = append(prog, jeq(6, lbl("tcp4"), ""))
	}
	prog = append(prog,
		jeq(17, "", reject),
		labelled{ins: bpf.LoadAbsolute{Off: at(20), Size: 2}}, // flags + fragment offset
		labelled{ins: bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff}, jt: reject},
		labelled{ins: bpf.LoadMemShift{Off: at(14)}},          // X = IPv4 header length
		labelled{ins: bpf.LoadIndirect{Off: at(14), Size: 2}}, // UDP source port
	)
	prog = append(prog, portChecks("", accept, lbl("dport4"))...)
	prog = append(prog,
		labelled{label: lbl("dport4"), ins: bpf.LoadIndirect{Off: at(16), Size: 2}},
	)
	if !bypass {
		prog = append(prog, portChecks("", accept, reject)...)
	} else {
		prog = append(prog, portChecks("", accept, lbl("bp4"))...)
		// A is the UDP destination port; X the IPv4 header length.
		prog = append(prog, bypassUDP(lbl("bp4"), lbl("quic4"), lbl("wg4"), accept)...)
		prog = append(prog,
			labelled{label: lbl("wg4"), ins: bpf.LoadIndirect{Off: at(14 + 4), Size: 2}}, // UDP length
			jeq(8+148, "", reject),
			labelled{ins: bpf.LoadIndirect{Off: at(14 + 8), Size: 4}},
			jeq(0x01000000, accept, reject),
			labelled{label: lbl("quic4"), ins: bpf.LoadIndirect{Off: at(14 + 8), Size: 1}},
			labelled{ins: bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x80}, jt: accept, jf: reject},
			labelled{label: lbl("tcp4"), ins: bpf.LoadAbsolute{Off: at(20), Size: 2}},
			labelled{ins: bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff}, jt: reject},
			labelled{ins: bpf.LoadMemShift{Off: at(14)}},
			labelled{ins: bpf.LoadIndirect{Off: at(14 + 13), Size: 1}}, // TCP flags
			labelled{ins: bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x12}},
			jeq(0x02, accept, ""), // SYN without ACK
			labelled{ins: bpf.LoadIndirect{Off: at(14 + 2), Size: 2}},
			jeq(1194, accept, reject),
		)
	}
	prog = append(prog,
		// IPv6 (no extension headers: DHCPv6, DNS and ND are sent without them)
		labelled{label: lbl("ipv6"), ins: bpf.LoadAbsolute{Off: at(20), Size: 1}}, // next header
		jeq(58, accept, ""),
	)
	if bypass {
		prog = append(prog, jeq(6, lbl("tcp6"), ""))
	}
	prog = append(prog,
		jeq(17, "", reject),
		labelled{ins: bpf.LoadAbsolute{Off: at(54), Size: 2}},
	)
	prog = append(prog, portChecks("", accept, lbl("dport6"))...)
	prog = append(prog, labelled{label: lbl("dport6"), ins: bpf.LoadAbsolute{Off: at(56), Size: 2}})
	if !bypass {
		prog = append(prog, portChecks("", accept, reject)...)
	} else {
		prog = append(prog, portChecks("", accept, lbl("bp6"))...)
		prog = append(prog, bypassUDP(lbl("bp6"), lbl("quic6"), lbl("wg6"), accept)...)
		prog = append(prog,
			labelled{label: lbl("wg6"), ins: bpf.LoadAbsolute{Off: at(54 + 4), Size: 2}},
			jeq(8+148, "", reject),
			labelled{ins: bpf.LoadAbsolute{Off: at(62), Size: 4}},
			jeq(0x01000000, accept, reject),
			labelled{label: lbl("quic6"), ins: bpf.LoadAbsolute{Off: at(62), Size: 1}},
			labelled{ins: bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x80}, jt: accept, jf: reject},
			labelled{label: lbl("tcp6"), ins: bpf.LoadAbsolute{Off: at(54 + 13), Size: 1}},
			labelled{ins: bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x12}},
			jeq(0x02, accept, ""),
			labelled{ins: bpf.LoadAbsolute{Off: at(54 + 2), Size: 2}},
			jeq(1194, accept, reject),
		)
	}
	return append(prog,
		labelled{label: reject, ins: bpf.RetConstant{Val: 0}},
		labelled{label: accept, ins: bpf.RetConstant{Val: 262144}},
	)
}

// bypassUDP checks the UDP destination port in A: 443 and 853 go to quic
// (long-header check), the IKE and OpenVPN ports are accepted, anything else
// goes on to wg (WireGuard's handshake shape).
func bypassUDP(label, quic, wg, accept string) []labelled {
	out := []labelled{
		{label: label, ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 443}, jt: quic},
		{ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 853}, jt: quic},
	}
	for i, p := range bypassUDPPorts {
		l := labelled{ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: p}, jt: accept}
		if i == len(bypassUDPPorts)-1 {
			l.jf = wg
		}
		out = append(out, l)
	}
	return out
}

// portChecks compares A with every filter port: to match on a hit, else to
// miss. The first instruction gets label.
func portChecks(label, match, miss string) []labelled {
	out := make([]labelled, len(filterPorts))
	for i, p := range filterPorts {
		out[i] = labelled{ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: p}, jt: match}
		if i == len(filterPorts)-1 {
			out[i].jf = miss
		}
	}
	out[0].label = label
	return out
}

// resolve turns symbolic jump targets into skip counts.
func resolve(prog []labelled) ([]bpf.Instruction, error) {
	at := map[string]int{}
	for i, l := range prog {
		if l.label != "" {
			at[l.label] = i
		}
	}
	skip := func(from int, label string) (uint8, error) {
		if label == "" {
			return 0, nil
		}
		to, ok := at[label]
		if !ok || to <= from || to-from-1 > 255 {
			return 0, fmt.Errorf("capture filter: bad jump from %d to %q", from, label)
		}
		return uint8(to - from - 1), nil
	}
	out := make([]bpf.Instruction, len(prog))
	for i, l := range prog {
		j, ok := l.ins.(bpf.JumpIf)
		if !ok {
			out[i] = l.ins
			continue
		}
		var err error
		if j.SkipTrue, err = skip(i, l.jt); err != nil {
			return nil, err
		}
		if j.SkipFalse, err = skip(i, l.jf); err != nil {
			return nil, err
		}
		out[i] = j
	}
	return out, nil
}
