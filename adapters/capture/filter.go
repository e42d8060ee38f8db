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
// accepts ARP, 802.1Q/802.1ad-tagged frames (decoded in user space), IPv4 UDP
// (unfragmented or first fragment) and IPv6 UDP to or from filterPorts, and
// ICMPv6. Frames whose tag the kernel strips (VLAN offload) are seen untagged.
func Filter() ([]bpf.RawInstruction, error) {
	const accept, reject = "accept", "reject"
	prog := []labelled{
		{ins: bpf.LoadAbsolute{Off: 12, Size: 2}}, // EtherType
		{ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x0806}, jt: accept},
		{ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x8100}, jt: accept},
		{ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x88a8}, jt: accept},
		{ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x86dd}, jt: "ipv6"},
		{ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x0800}, jf: reject},
		// IPv4
		{ins: bpf.LoadAbsolute{Off: 23, Size: 1}}, // protocol
		{ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 17}, jf: reject},
		{ins: bpf.LoadAbsolute{Off: 20, Size: 2}}, // flags + fragment offset
		{ins: bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff}, jt: reject},
		{ins: bpf.LoadMemShift{Off: 14}},          // X = IPv4 header length
		{ins: bpf.LoadIndirect{Off: 14, Size: 2}}, // UDP source port
	}
	prog = append(prog, portChecks("", accept, "dport4")...)
	prog = append(prog,
		labelled{label: "dport4", ins: bpf.LoadIndirect{Off: 16, Size: 2}},
	)
	prog = append(prog, portChecks("", accept, reject)...)
	prog = append(prog,
		// IPv6 (no extension headers: DHCPv6, DNS and ND are sent without them)
		labelled{label: "ipv6", ins: bpf.LoadAbsolute{Off: 20, Size: 1}}, // next header
		labelled{ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 58}, jt: accept},
		labelled{ins: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 17}, jf: reject},
		labelled{ins: bpf.LoadAbsolute{Off: 54, Size: 2}},
	)
	prog = append(prog, portChecks("", accept, "dport6")...)
	prog = append(prog, labelled{label: "dport6", ins: bpf.LoadAbsolute{Off: 56, Size: 2}})
	prog = append(prog, portChecks("", accept, reject)...)
	prog = append(prog,
		labelled{label: reject, ins: bpf.RetConstant{Val: 0}},
		labelled{label: accept, ins: bpf.RetConstant{Val: 262144}},
	)
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
