// Package simulate generates a synthetic school day for `hallmonitor demo` and for
// tests: a few hundred devices (pupils' phones and watches, staff phones, school
// laptops, Chromebooks and iPads, visitors) that arrive, move between areas and leave,
// and the real Ethernet frames (802.1Q-tagged DHCP, DNS and ARP) they would put on
// the gateway's trunk. The frames go through the same decoder as live capture.
//
// The traffic follows the network plan in school.yaml (Embedded): VLAN by population
// (20 staff, 30 pupils, 40 guests, 50 school devices), the third octet of the address
// by area (.1 reception, .2 staff room, .3 SLT office, .10–.19 teaching, .20 exam room,
// .30 car park), the gateway and DHCP server at x.y.z.1.
//
// Everything is planned in New from Options.Seed, so a seed always gives the same day,
// byte for byte. Devices and ExpectedBreaches are the ground truth.
package simulate

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

// Device counts.
const (
	DefaultDevices = 320
	MinDevices     = 300
	// MaxDevices is what the pupils' reception subnet (10.30.1.0/24, hosts .10–.254)
	// can lease to every pupil device at once.
	MaxDevices = 380
)

// Options configures a simulated school day.
type Options struct {
	Seed    int64
	Devices int // total devices; 0 means DefaultDevices; MinDevices..MaxDevices
	// Day is the simulated school day: its date in Europe/London is used, and it must
	// be a school day in school.yaml's calendar (see SchoolDay).
	Day time.Time
	// Clock paces Run: the demo passes a *daemon.ScaledClock started at 07:40 local on
	// Day. Frames and WritePcap need no clock.
	Clock  daemon.Clock
	Logger *zap.Logger // nil for none
}

// Frame is one Ethernet II frame (802.1Q tagged) and the simulated time it is sent.
type Frame struct {
	At   time.Time
	Data []byte
}

// Visit is one planned stay of a device in an area.
type Visit struct {
	At   time.Time  // when the device joins the area's network (its DHCPDISCOVER)
	Zone string     // zone name in school.yaml: reception, staffroom, slt-office, teaching, exam-room, car-park
	IP   netip.Addr // the address the DHCP server leases to it there
}

// DeviceSpec is the ground truth about one simulated device.
type DeviceSpec struct {
	MAC           string // lower-case colon form
	Kind          string // phone, smartwatch, fitness-tracker, tablet, laptop, games-console, e-reader
	OS            string // ios, ipados, watchos, android, wearos, fitbit, windows, chromeos, nintendo, kindle
	Vendor        string // who made it (not necessarily visible: personal devices use random MACs)
	Model         string
	Role          string // the role the policy should give it: the register's, else its VLAN's
	Managed       bool   // school-managed, on the register
	RandomizedMAC bool   // locally administered (private) address
	Hostname      string // DHCP option 12, "" when the device sends none
	VLAN          uint16
	Owner         string // register owner, "" when not on the register
	AssetTag      string // register asset tag, "" when none
	Visits        []Visit
	Leave         time.Time // when it is last heard of (it leaves the site)
}

// Breach is one planned breach episode: the device is in Zone where a rule of
// school.yaml alerts, from From (the visit's start, or 08:30 when pupil hours begin)
// until Until (it leaves the zone, or 15:30). The daemon opens the alert once it has
// seen the device's DHCPREQUEST in the new area, a second or so after From.
type Breach struct {
	MAC      string
	Zone     string
	From     time.Time
	Until    time.Time
	Rule     string   // the school.yaml rule that should match
	Severity string   // its severity
	Clauses  []string // its clauses
}

// School is a planned school day.
type School struct {
	opts     Options
	log      *zap.Logger
	cal      *calendar
	devices  []*device
	register []policy.RegisterEntry
	breaches []Breach
	events   []event
	start    time.Time // 07:40 local
	end      time.Time // when Run returns
}

// New plans the day: the device mix, every device's movements, and every frame.
func New(o Options) (*School, error) {
	if o.Devices == 0 {
		o.Devices = DefaultDevices
	}
	if o.Devices < MinDevices || o.Devices > MaxDevices {
		return nil, fmt.Errorf("simulate: %d devices: want %d to %d", o.Devices, MinDevices, MaxDevices)
	}
	if o.Day.IsZero() {
		return nil, errors.New("simulate: Options.Day is required (see SchoolDay)")
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	cal, err := loadCalendar(schoolYAML)
	if err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	y, m, d := o.Day.In(cal.loc).Date()
	date := civilDate{y, m, d}
	if ok, why := cal.schoolDay(date); !ok {
		return nil, fmt.Errorf("simulate: %s is not a school day in school.yaml (%s)", date, why)
	}
	s := &School{opts: o, log: log, cal: cal}
	p := newPlanner(o.Seed, cal, date)
	s.start = p.at(7, 40)
	s.end = p.at(16, 35)
	if err := p.planMix(o.Devices); err != nil {
		return nil, fmt.Errorf("simulate: plan devices: %w", err)
	}
	if err := p.assignLeases(); err != nil {
		return nil, fmt.Errorf("simulate: assign addresses: %w", err)
	}
	s.devices = p.devices
	s.register = p.register
	s.breaches = p.breaches()
	s.events = p.traffic()
	log.Info("simulated school day planned",
		zap.String("day", date.String()),
		zap.Int64("seed", o.Seed),
		zap.Int("devices", len(s.devices)),
		zap.Int("register", len(s.register)),
		zap.Int("planned_breaches", len(s.breaches)),
		zap.Int("frames", len(s.events)))
	return s, nil
}

// Devices returns the ground truth about every device, in a stable order.
func (s *School) Devices() []DeviceSpec {
	out := make([]DeviceSpec, len(s.devices))
	for i, d := range s.devices {
		out[i] = d.spec
		out[i].Visits = append([]Visit(nil), d.spec.Visits...)
	}
	return out
}

// Register returns the school register: every school-managed laptop, Chromebook and
// iPad (Managed true), and the staff phones the school knows by role (office staff and
// SLT, Managed false).
func (s *School) Register() []policy.RegisterEntry {
	return append([]policy.RegisterEntry(nil), s.register...)
}

// ExpectedBreaches returns the planned breach episodes in time order.
func (s *School) ExpectedBreaches() []Breach {
	out := make([]Breach, len(s.breaches))
	for i, b := range s.breaches {
		out[i] = b
		out[i].Clauses = append([]string(nil), b.Clauses...)
	}
	return out
}

// Start is when the simulated day begins (07:40 local): start the demo's ScaledClock here.
func (s *School) Start() time.Time { return s.start }

// End is when Run returns (16:35 local), after the last device has left.
func (s *School) End() time.Time { return s.end }

// Len is the number of frames in the day.
func (s *School) Len() int { return len(s.events) }
