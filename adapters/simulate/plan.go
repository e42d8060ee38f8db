package simulate

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hallmonitor/hallmonitor/rules/policy"
)

// Areas: the third octet of an address says where the device is (school.yaml).
const (
	octReception = 1
	octStaffroom = 2
	octSLT       = 3
	octTeaching  = 10 // .10–.19
	octRooms     = 10
	octExam      = 20
	octCarPark   = 30
)

// VLANs by population (school.yaml).
const (
	vlanStaff  = 20
	vlanPupil  = 30
	vlanGuest  = 40
	vlanSchool = 50
)

// zoneOf returns the school.yaml zone of an area octet.
func zoneOf(octet uint8) string {
	switch {
	case octet == octReception:
		return "reception"
	case octet == octStaffroom:
		return "staffroom"
	case octet == octSLT:
		return "slt-office"
	case octet >= octTeaching && octet < octTeaching+octRooms:
		return "teaching"
	case octet == octExam:
		return "exam-room"
	case octet == octCarPark:
		return "car-park"
	}
	return ""
}

// roleOfVLAN is the role school.yaml gives a network when the register names no role.
func roleOfVLAN(vlan uint16) string {
	switch vlan {
	case vlanPupil:
		return "pupil"
	case vlanGuest:
		return "visitor"
	}
	return "staff-direct"
}

// activity says how chatty a device is.
type activity uint8

const (
	actPhone      activity = iota + 1 // in use: DNS every 3–8 minutes
	actLocker                         // pupil phone: in use until handed in, then quiet in a locker
	actWatch                          // 10–25 minutes
	actComputer                       // laptops, Chromebooks, iPads: 4–10 minutes
	actReader                         // Kindle: 30–60 minutes
	actConsole                        // Switch: in a bag, 15–30 minutes, quiet in a locker
	actQuietTrack                     // fitness tracker: 20–40 minutes
)

// stop is a planned stay before addresses are known.
type stop struct {
	at    time.Time
	octet uint8
}

// device is one simulated device: its ground truth and how it behaves.
type device struct {
	spec        DeviceSpec
	hw          net.HardwareAddr
	arch        *archetype
	vendorClass string
	act         activity
	stops       []stop
}

// planner builds the day. All randomness comes from one seeded PCG source, consumed in
// a fixed order, so a seed always gives the same day.
type planner struct {
	rng      *rand.Rand
	cal      *calendar
	date     civilDate
	devices  []*device
	register []policy.RegisterEntry
	macs     map[string]bool
	assets   int            // school devices so far (ICT owner numbers)
	tags     map[string]int // asset tags so far per series (HMA-LT, HMA-CB, HMA-iPad)
}

func newPlanner(seed int64, cal *calendar, date civilDate) *planner {
	return &planner{
		rng:  rand.New(rand.NewPCG(uint64(seed), 0x4861_6c6c_4d6f_6e21)), // "HallMon!"
		cal:  cal,
		date: date,
		macs: make(map[string]bool),
		tags: make(map[string]int),
	}
}

// at is hh:mm local time on the simulated day.
func (p *planner) at(h, m int) time.Time {
	return time.Date(p.date.y, p.date.m, p.date.d, h, m, 0, 0, p.cal.loc)
}

// between is a random instant in [a, b), to the millisecond.
func (p *planner) between(a, b time.Time) time.Time {
	ms := b.Sub(a).Milliseconds()
	if ms <= 0 {
		return a
	}
	return a.Add(time.Duration(p.rng.Int64N(ms)) * time.Millisecond)
}

// jitter is a random duration in [lo, hi).
func (p *planner) jitter(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(p.rng.Int64N(int64(hi-lo)))
}

func (p *planner) pick(xs []string) string { return xs[p.rng.IntN(len(xs))] }

func (p *planner) chance(prob float64) bool { return p.rng.Float64() < prob }

func (p *planner) room() uint8 { return uint8(octTeaching + p.rng.IntN(octRooms)) }

// otherRoom is a teaching room other than cur.
func (p *planner) otherRoom(cur uint8) uint8 {
	for {
		if r := p.room(); r != cur {
			return r
		}
	}
}

// macFrom returns an unused MAC: a locally administered unicast one (as iOS 14+ and
// Android 10+ use per network by default) when ouis is "", else one under a random
// OUI from the space-separated list.
func (p *planner) macFrom(ouis string) net.HardwareAddr {
	for {
		hw := make(net.HardwareAddr, 6)
		for i := range hw {
			hw[i] = byte(p.rng.UintN(256))
		}
		if ouis == "" {
			hw[0] = hw[0]&^0x01 | 0x02 // unicast, locally administered
		} else {
			list := strings.Fields(ouis)
			o, err := hex.DecodeString(strings.ReplaceAll(list[p.rng.IntN(len(list))], ":", ""))
			if err != nil || len(o) != 3 {
				panic(fmt.Sprintf("simulate: bad OUI table %q", ouis)) // a constant in this package
			}
			copy(hw, o)
		}
		if !p.macs[hw.String()] {
			p.macs[hw.String()] = true
			return hw
		}
	}
}

// model is a product a device can be.
type model struct {
	vendor, name, hostname string
	arch                   func() *archetype
	android                int // Android release, 0 when not Android
}

func (p *planner) add(m model, vlan uint16, ouis string, act activity, hostname string) *device {
	a := m.arch()
	d := &device{arch: a, act: act, vendorClass: a.vendorClass}
	if m.android > 0 {
		d.vendorClass = fmt.Sprintf("android-dhcp-%d", m.android)
	}
	d.hw = p.macFrom(ouis)
	d.spec = DeviceSpec{
		MAC:           d.hw.String(),
		Kind:          a.kind,
		OS:            a.os,
		Vendor:        m.vendor,
		Model:         m.name,
		Role:          roleOfVLAN(vlan),
		RandomizedMAC: ouis == "",
		Hostname:      hostname,
		VLAN:          vlan,
	}
	p.devices = append(p.devices, d)
	return d
}

// enrol puts d on the school register.
func (p *planner) enrol(d *device, role, owner, asset, kind string, managed bool) {
	d.spec.Role, d.spec.Owner, d.spec.AssetTag, d.spec.Managed = role, owner, asset, managed
	p.register = append(p.register, policy.RegisterEntry{
		MAC: d.spec.MAC, Role: role, Owner: owner, AssetTag: asset, Kind: kind, Managed: managed,
	})
}

// goTo moves d to octet at t (a no-op when it is already there).
func (d *device) goTo(t time.Time, octet uint8) {
	if n := len(d.stops); n > 0 && d.stops[n-1].octet == octet {
		return
	}
	d.stops = append(d.stops, stop{t, octet})
}

// firstNames are for host names ("Emmas-iPhone"). First names only; nobody real.
func firstNames() []string {
	return []string{
		"Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Isabella", "Sophia", "Grace",
		"Freya", "Emily", "Ella", "Poppy", "Evie", "Ruby", "Chloe", "Zara", "Aisha", "Priya",
		"Noah", "Oliver", "George", "Arthur", "Leo", "Muhammad", "Harry", "Oscar", "Archie", "Henry",
		"Theo", "Jack", "Charlie", "Freddie", "Alfie", "Jacob", "Thomas", "Joshua", "Kai", "Finley",
	}
}

// iPhones: Apple's models; the host name, when sent, is the device name with the
// apostrophe dropped and spaces as hyphens ("Emma's iPhone" → "Emmas-iPhone"); iOS 16+
// names a new phone just "iPhone".
func iPhones() []string {
	return []string{"iPhone 12", "iPhone 13", "iPhone 14", "iPhone 15", "iPhone SE", "iPhone 11", "iPhone 16"}
}

func androidPhones() []model {
	return []model{
		{vendor: "Samsung", name: "Galaxy A14", hostname: "Galaxy-A14", arch: archAndroid, android: 14},
		{vendor: "Samsung", name: "Galaxy A15", hostname: "Galaxy-A15", arch: archAndroid, android: 14},
		{vendor: "Samsung", name: "Galaxy A34", hostname: "Galaxy-A34-5G", arch: archAndroid, android: 13},
		{vendor: "Samsung", name: "Galaxy A54", hostname: "Galaxy-A54-5G", arch: archAndroid, android: 14},
		{vendor: "Samsung", name: "Galaxy S23", hostname: "Galaxy-S23", arch: archAndroid, android: 14},
		{vendor: "Google", name: "Pixel 7", hostname: "Pixel-7", arch: archAndroid, android: 14},
		{vendor: "Google", name: "Pixel 7a", hostname: "Pixel-7a", arch: archAndroid, android: 14},
		{vendor: "Google", name: "Pixel 6a", hostname: "Pixel-6a", arch: archAndroid, android: 13},
		{vendor: "Motorola", name: "moto g54 5G", hostname: "moto-g54-5G", arch: archAndroid, android: 13},
		{vendor: "Xiaomi", name: "Redmi Note 12", hostname: "Redmi-Note-12", arch: archAndroid, android: 13},
		{vendor: "Xiaomi", name: "Redmi 10C", hostname: "Redmi-10C", arch: archAndroid, android: 12},
		{vendor: "OnePlus", name: "Nord CE 3 Lite", hostname: "OnePlus-Nord-CE-3-Lite", arch: archAndroid, android: 13},
	}
}

// iPhone adds a personal iPhone (random MAC; a host name for about half).
func (p *planner) iPhone(vlan uint16, act activity) *device {
	m := model{vendor: "Apple", name: p.pick(iPhones()), arch: archIOS}
	host := ""
	switch r := p.rng.Float64(); {
	case r < 0.35:
		n := p.pick(firstNames())
		host = n + "s-iPhone"
	case r < 0.5:
		host = "iPhone"
	}
	return p.add(m, vlan, "", act, host)
}

// androidPhone adds a personal Android phone (random MAC; most send a host name).
func (p *planner) androidPhone(vlan uint16, act activity) *device {
	ms := androidPhones()
	m := ms[p.rng.IntN(len(ms))]
	host := m.hostname
	if p.chance(0.25) {
		host = ""
	}
	return p.add(m, vlan, "", act, host)
}

// watch adds a personal watch or tracker of the given flavour.
func (p *planner) watch(vlan uint16, flavour int) *device {
	switch flavour {
	case 0: // Apple Watch: private address like the iPhone
		host := ""
		if p.chance(0.5) {
			host = "Apple-Watch"
		}
		return p.add(model{vendor: "Apple", name: "Apple Watch SE", arch: archWatchOS}, vlan, "", actWatch, host)
	case 1: // Galaxy Watch (Wear OS): private address
		return p.add(model{vendor: "Samsung", name: "Galaxy Watch5", arch: archWearOS}, vlan, "", actWatch, "Galaxy-Watch5")
	default: // Fitbit: its IEEE address
		return p.add(model{vendor: "Fitbit", name: "Fitbit Sense 2", arch: archFitbit}, vlan, ouiFitbit, actQuietTrack, "")
	}
}

// The school's timetable: lesson periods (start, end).
func (p *planner) periods() [][2]time.Time {
	return [][2]time.Time{
		{p.at(8, 50), p.at(9, 50)}, {p.at(9, 50), p.at(10, 50)},
		{p.at(11, 10), p.at(12, 10)}, {p.at(12, 10), p.at(13, 10)},
		{p.at(13, 50), p.at(14, 40)}, {p.at(14, 40), p.at(15, 30)},
	}
}

// pupilArrival: 07:55–08:45 local, most before 08:30.
func (p *planner) pupilArrival() time.Time {
	if p.chance(0.85) {
		return p.between(p.at(7, 55), p.at(8, 30))
	}
	return p.between(p.at(8, 30), p.at(8, 45))
}

// leaveAfter sets d's departure: a random instant in [a, b), and at least two minutes
// after its last move.
func (p *planner) leaveAfter(d *device, a, b time.Time) {
	t := p.between(a, b)
	if last := d.stops[len(d.stops)-1].at.Add(2 * time.Minute); t.Before(last) {
		t = last
	}
	d.spec.Leave = t
}

// planMix creates n devices and plans their day.
func (p *planner) planMix(n int) error {
	per := p.periods()
	fixed := 22 + 2 + 38 + 3 + 2 + 44 + 30 + 12 + 6
	pupilPhones := n - fixed

	// Pupils' phones (VLAN 30): ~55 % iPhone. ~88 % go to the reception lockers and
	// stay there; ~10 % turn up in teaching areas (OSS-2.1); one is taken into the exam
	// room at about 09:30 (OSS-5).
	iosCount := int(math.Round(0.55 * float64(pupilPhones)))
	inClass := int(math.Round(0.10 * float64(pupilPhones)))
	var phones []*device
	for i := range pupilPhones {
		var d *device
		if i < iosCount {
			d = p.iPhone(vlanPupil, actLocker)
		} else {
			d = p.androidPhone(vlanPupil, actLocker)
		}
		phones = append(phones, d)
	}
	order := p.rng.Perm(len(phones)) // who breaches is not tied to the OS
	for rank, i := range order {
		d := phones[i]
		switch {
		case rank == 0: // the exam-room phone
			d.goTo(p.between(p.at(7, 55), p.at(8, 25)), octReception)
			d.goTo(p.between(p.at(9, 28), p.at(9, 32)), octExam)
			d.goTo(p.between(p.at(10, 50), p.at(10, 55)), octReception)
		case rank <= inClass:
			d.goTo(p.pupilArrival(), octReception)
			k := p.rng.IntN(len(per))
			room := p.room()
			d.goTo(per[k][0].Add(p.jitter(0, 8*time.Minute)), room)
			if k+1 < len(per) && p.chance(0.3) { // keeps it for the next lesson too
				d.goTo(per[k+1][0].Add(p.jitter(0, 2*time.Minute)), p.otherRoom(room))
				k++
			}
			d.goTo(per[k][1].Add(p.jitter(0, 3*time.Minute)), octReception)
		default:
			d.goTo(p.pupilArrival(), octReception)
		}
		p.leaveAfter(d, p.at(15, 30), p.at(16, 0))
	}

	// Pupils' watches and trackers (VLAN 30): 11 Apple Watch, 6 Galaxy Watch, 5 Fitbit.
	// Five are worn into lessons all morning (OSS-2.1), the rest stay in the lockers.
	for i := range 22 {
		flavour := 0
		switch {
		case i >= 17:
			flavour = 2
		case i >= 11:
			flavour = 1
		}
		d := p.watch(vlanPupil, flavour)
		d.goTo(p.pupilArrival(), octReception)
		if i%4 == 0 && i < 20 { // 0, 4, 8, 12, 16
			room := p.room()
			d.goTo(per[0][0].Add(p.jitter(0, 3*time.Minute)), room)
			room = p.otherRoom(room)
			d.goTo(per[1][0].Add(p.jitter(0, 3*time.Minute)), room)
			d.goTo(per[2][0].Add(p.jitter(0, 3*time.Minute)), p.otherRoom(room))
			d.goTo(per[2][1].Add(p.jitter(0, 5*time.Minute)), octReception)
		}
		p.leaveAfter(d, p.at(15, 30), p.at(16, 0))
	}

	// A pupil's Nintendo Switch, played at a lunchtime club in a classroom, and a
	// pupil's Kindle, read in an English lesson (both OSS-2.1).
	sw := p.add(model{vendor: "Nintendo", name: "Switch", arch: archSwitch}, vlanPupil, ouiNintendo, actConsole, "")
	sw.goTo(p.pupilArrival(), octReception)
	sw.goTo(p.between(p.at(12, 15), p.at(12, 20)), octTeaching+2)
	sw.goTo(p.between(p.at(12, 55), p.at(13, 0)), octReception)
	p.leaveAfter(sw, p.at(15, 30), p.at(16, 0))
	kindle := p.add(model{vendor: "Amazon", name: "Kindle Paperwhite", arch: archKindle}, vlanPupil, ouiAmazon, actReader, "")
	kindle.goTo(p.pupilArrival(), octReception)
	kindle.goTo(per[4][0].Add(p.jitter(0, 5*time.Minute)), p.room())
	kindle.goTo(per[4][1].Add(p.jitter(0, 3*time.Minute)), octReception)
	p.leaveAfter(kindle, p.at(15, 30), p.at(16, 0))

	// Staff phones (VLAN 20): 23 iPhone, 15 Android. Six belong to office staff and
	// three to SLT (the register names them); the rest are staff-direct. Five
	// staff-direct phones are taken into lessons (OSS-2.2); one office phone into a
	// classroom (OSS-2.3); one SLT phone on a learning walk (allowed).
	for i := range 38 {
		var d *device
		if i < 23 {
			d = p.iPhone(vlanStaff, actPhone)
		} else {
			d = p.androidPhone(vlanStaff, actPhone)
		}
		switch {
		case i%13 == 1 && i < 40: // 1, 14, 27: SLT
			p.enrol(d, "slt", fmt.Sprintf("STAFF-%03d", 100+i), "", "phone", false)
			d.goTo(p.between(p.at(7, 40), p.at(8, 0)), octSLT)
			if i == 1 {
				d.goTo(p.between(p.at(10, 0), p.at(10, 5)), p.room())
				d.goTo(p.between(p.at(10, 35), p.at(10, 45)), octSLT)
			}
			p.leaveAfter(d, p.at(16, 0), p.at(16, 30))
		case i%6 == 3 || i == 36: // 3, 9, 15, 21, 33, 36 (27 is SLT): office staff
			p.enrol(d, "staff-office", fmt.Sprintf("STAFF-%03d", 100+i), "", "phone", false)
			d.goTo(p.between(p.at(7, 50), p.at(8, 30)), octReception) // the admin office
			if i == 3 {
				d.goTo(p.between(p.at(13, 55), p.at(14, 0)), p.room())
				d.goTo(p.between(p.at(14, 15), p.at(14, 25)), octReception)
			}
			p.leaveAfter(d, p.at(15, 30), p.at(16, 30))
		default:
			arrive := p.between(p.at(7, 40), p.at(8, 25))
			if p.chance(0.3) { // parks, then walks in
				d.goTo(arrive, octCarPark)
				arrive = arrive.Add(p.jitter(2*time.Minute, 5*time.Minute))
			}
			d.goTo(arrive, octStaffroom)
			switch i {
			case 0, 5, 12, 24, 31: // into a lesson
				k := p.rng.IntN(len(per))
				d.goTo(per[k][0].Add(p.jitter(0, 5*time.Minute)), p.room())
				d.goTo(per[k][1].Add(p.jitter(0, 5*time.Minute)), octStaffroom)
			case 2, 7, 18, 25, 35: // lunch in the car
				d.goTo(p.between(p.at(13, 10), p.at(13, 20)), octCarPark)
				d.goTo(p.between(p.at(13, 35), p.at(13, 45)), octStaffroom)
			}
			p.leaveAfter(d, p.at(15, 45), p.at(16, 30))
		}
	}
	// Staff watches (VLAN 20): two Apple Watch, one Fitbit; one worn into a lesson.
	for i := range 3 {
		d := p.watch(vlanStaff, []int{0, 0, 2}[i])
		d.goTo(p.between(p.at(7, 40), p.at(8, 25)), octStaffroom)
		if i == 0 {
			d.goTo(per[1][0].Add(p.jitter(0, 5*time.Minute)), p.room())
			d.goTo(per[1][1].Add(p.jitter(0, 5*time.Minute)), octStaffroom)
		}
		p.leaveAfter(d, p.at(15, 45), p.at(16, 30))
	}
	// Two staff members' own Windows laptops (VLAN 20, Intel Wi-Fi, default Windows
	// names): laptops are not named by the policy, so a lesson is no breach.
	for i := range 2 {
		name := "DESKTOP-" + p.windowsSuffix()
		d := p.add(model{vendor: []string{"Dell", "Lenovo"}[i], name: "personal laptop", arch: archWindows}, vlanStaff, ouiIntel, actComputer, name)
		d.goTo(p.between(p.at(7, 50), p.at(8, 30)), octStaffroom)
		if i == 0 {
			d.goTo(per[0][0].Add(p.jitter(0, 5*time.Minute)), p.room())
			d.goTo(per[0][1].Add(p.jitter(0, 5*time.Minute)), octStaffroom)
		}
		p.leaveAfter(d, p.at(15, 45), p.at(16, 30))
	}

	// School laptops (VLAN 50, on the register): 14 staff laptops follow their owner
	// from room to room; two trolleys of 15 pupil laptops move between classrooms.
	lt := []model{
		{vendor: "Dell", name: "Latitude 3440", arch: archWindows},
		{vendor: "HP", name: "ProBook 440 G10", arch: archWindows},
		{vendor: "Lenovo", name: "ThinkPad E14", arch: archWindows},
	}
	ltOUI := []string{ouiDell, ouiHP, ouiLenovo}
	for i := range 14 {
		d := p.schoolDevice(lt[i%3], ltOUI[i%3], "HMA-LT-%04d", "staff-direct", "laptop")
		d.goTo(p.between(p.at(7, 45), p.at(8, 30)), octStaffroom)
		for k, pr := range per {
			t := pr[0].Add(p.jitter(0, 4*time.Minute))
			if k == 4 { // back from lunch in the staff room first
				d.goTo(per[3][1].Add(p.jitter(0, 5*time.Minute)), octStaffroom)
			}
			if p.chance(1.0 / 6) {
				d.goTo(t, octStaffroom) // a free period
			} else if cur := d.stops[len(d.stops)-1].octet; zoneOf(cur) == "teaching" {
				d.goTo(t, p.otherRoom(cur))
			} else {
				d.goTo(t, p.room())
			}
		}
		d.goTo(per[5][1].Add(p.jitter(0, 5*time.Minute)), octStaffroom)
		p.leaveAfter(d, p.at(15, 40), p.at(16, 30))
	}
	for t := range 2 {
		p.cart(15, func(i int) *device {
			j := 14 + t*15 + i
			return p.schoolDevice(lt[j%3], ltOUI[j%3], "HMA-LT-%04d", "pupil", "laptop")
		})
	}
	// Chromebooks (VLAN 50): two carts of 15.
	cb := []model{
		{vendor: "Acer", name: "Chromebook 314", arch: archChromeOS},
		{vendor: "Lenovo", name: "100e Chromebook", arch: archChromeOS},
		{vendor: "HP", name: "Chromebook 14 G7", arch: archChromeOS},
	}
	cbOUI := []string{ouiAcer, ouiLenovo, ouiHP}
	for t := range 2 {
		p.cart(15, func(i int) *device {
			j := t*15 + i
			return p.schoolDevice(cb[j%3], cbOUI[j%3], "HMA-CB-%04d", "pupil", "laptop")
		})
	}
	// iPads (VLAN 50): one cart of 12, supervised, private address off.
	p.cart(12, func(int) *device {
		return p.schoolDevice(model{vendor: "Apple", name: "iPad (10th generation)", arch: archIPadOS}, ouiApple, "HMA-iPad-%02d", "pupil", "tablet")
	})

	// Visitors (VLAN 40): six phones in reception; one walks into a classroom (OSS-6).
	for i := range 6 {
		var d *device
		if i%2 == 0 {
			d = p.iPhone(vlanGuest, actPhone)
		} else {
			d = p.androidPhone(vlanGuest, actPhone)
		}
		d.goTo(p.between(p.at(8, 10), p.at(8, 45)), octReception)
		if i == 0 {
			d.goTo(p.between(p.at(10, 15), p.at(10, 20)), p.room())
			d.goTo(p.between(p.at(10, 50), p.at(10, 55)), octReception)
			p.leaveAfter(d, p.at(11, 0), p.at(11, 30))
			continue
		}
		p.leaveAfter(d, p.at(10, 0), p.at(15, 0))
	}

	if len(p.devices) != n {
		return fmt.Errorf("planned %d devices, want %d", len(p.devices), n)
	}
	for _, d := range p.devices {
		for i := 1; i < len(d.stops); i++ {
			if !d.stops[i-1].at.Before(d.stops[i].at) {
				return fmt.Errorf("device %s: move %d at %s is not after %s", d.spec.MAC, i, d.stops[i].at, d.stops[i-1].at)
			}
		}
		if !d.stops[len(d.stops)-1].at.Before(d.spec.Leave) {
			return fmt.Errorf("device %s leaves before its last move", d.spec.MAC)
		}
	}
	return nil
}

// windowsSuffix is the seven random characters of a default Windows computer name.
func (p *planner) windowsSuffix() string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 7)
	for i := range b {
		b[i] = chars[p.rng.IntN(len(chars))]
	}
	return string(b)
}

// schoolDevice adds a school-managed device on VLAN 50 with its vendor's address, its
// asset tag as host name (Windows computer name, ChromeOS DeviceHostnameTemplate,
// iPad name set by the MDM), and puts it on the register.
func (p *planner) schoolDevice(m model, ouis, tagFormat, role, kind string) *device {
	p.assets++
	p.tags[tagFormat]++
	tag := fmt.Sprintf(tagFormat, p.tags[tagFormat])
	d := p.add(m, vlanSchool, ouis, actComputer, tag)
	p.enrol(d, role, fmt.Sprintf("ICT-%04d", p.assets), tag, kind, true)
	return d
}

// cart plans a trolley of n school devices: unlocked in a classroom before the first
// lesson, wheeled to another room at the start of periods 2, 3 and 5, shut down after
// the last lesson.
func (p *planner) cart(n int, mk func(i int) *device) {
	per := p.periods()
	rooms := []uint8{p.room()}
	for range 3 {
		rooms = append(rooms, p.otherRoom(rooms[len(rooms)-1]))
	}
	moves := []time.Time{per[1][0], per[2][0], per[4][0]}
	for i := range n {
		d := mk(i)
		d.goTo(p.between(p.at(8, 15), p.at(8, 45)), rooms[0])
		for k, t := range moves {
			d.goTo(t.Add(p.jitter(0, 3*time.Minute)), rooms[k+1])
		}
		p.leaveAfter(d, p.at(15, 20), p.at(15, 45))
	}
}

// assignLeases gives every stay an address in its area's /24 (hosts .10–.254), in the
// order devices ask (first come, first served), and the same address again when a
// device comes back to an area, as a DHCP server does.
func (p *planner) assignLeases() error {
	type ask struct {
		at  time.Time
		dev int
		idx int
	}
	var asks []ask
	for di, d := range p.devices {
		for si, s := range d.stops {
			asks = append(asks, ask{s.at, di, si})
		}
	}
	slices.SortStableFunc(asks, func(a, b ask) int { return a.at.Compare(b.at) })
	type subnet struct {
		vlan  uint16
		octet uint8
	}
	next := map[subnet]int{}
	leases := map[subnet]map[int]netip.Addr{}
	for _, d := range p.devices {
		d.spec.Visits = make([]Visit, len(d.stops))
	}
	for _, a := range asks {
		d := p.devices[a.dev]
		s := d.stops[a.idx]
		sn := subnet{d.spec.VLAN, s.octet}
		if leases[sn] == nil {
			leases[sn] = map[int]netip.Addr{}
			next[sn] = 10
		}
		ip, ok := leases[sn][a.dev]
		if !ok {
			if next[sn] > 254 {
				return fmt.Errorf("subnet 10.%d.%d.0/24 is full", sn.vlan, sn.octet)
			}
			ip = netip.AddrFrom4([4]byte{10, byte(sn.vlan), sn.octet, byte(next[sn])})
			next[sn]++
			leases[sn][a.dev] = ip
		}
		d.spec.Visits[a.idx] = Visit{At: s.at, Zone: zoneOf(s.octet), IP: ip}
	}
	return nil
}

// gateway is the router (and DHCP and DNS server) of the subnet ip is in: x.y.z.1.
func gateway(ip netip.Addr) netip.Addr {
	b := ip.As4()
	b[3] = 1
	return netip.AddrFrom4(b)
}

// ruleFor mirrors school.yaml's rules, first match wins: which alerting rule a device
// with this role, kind and register status meets in a zone type during pupil hours.
// ok is false when the first matching rule allows (or none matches). The tests check
// that the names, severities and clauses agree with school.yaml.
func ruleFor(role, kind string, managed bool, zoneType string) (name, severity string, clauses []string, ok bool) {
	personal := kind == "phone" || kind == "smartwatch" || kind == "fitness-tracker" ||
		kind == "tablet" || kind == "e-reader" || kind == "games-console"
	handheld := kind == "phone" || kind == "smartwatch" || kind == "tablet"
	teaching := zoneType == "teaching" || zoneType == "pupil-area"
	switch {
	case zoneType == "exam-room" && personal && !managed:
		return "exam-room-devices", "critical", []string{"OSS-5"}, true
	case managed:
		return "school-devices", "", nil, false
	case role == "pupil" && personal && zoneType != "reception":
		return "pupil-device-beyond-reception", "high", []string{"OSS-2.1", "SPT-13"}, true
	case role == "staff-direct" && handheld && teaching:
		return "staff-device-in-pupil-area", "medium", []string{"OSS-2.2", "SPT-3"}, true
	case role == "staff-office" && handheld && teaching:
		return "office-staff-device-in-teaching", "medium", []string{"OSS-2.3", "SPT-3"}, true
	case (role == "visitor" || role == "contractor" || role == "volunteer") && handheld &&
		(teaching || zoneType == "exam-room"):
		return "visitor-device-in-pupil-area", "medium", []string{"OSS-6", "SPT-3"}, true
	}
	return "", "", nil, false
}

// breaches lists the planned breach episodes: each stay in a zone where a rule alerts,
// clipped to pupil hours; consecutive stays in the same zone under the same rule
// (a pupil moving from one classroom to the next) are one episode.
func (p *planner) breaches() []Breach {
	from := p.at(p.cal.pupilFrom.h, p.cal.pupilFrom.m)
	until := p.at(p.cal.pupilUntil.h, p.cal.pupilUntil.m)
	var out []Breach
	for _, d := range p.devices {
		open := -1 // index in out of the episode the previous stay belongs to
		for i, v := range d.spec.Visits {
			end := d.spec.Leave
			if i+1 < len(d.spec.Visits) {
				end = d.spec.Visits[i+1].At
			}
			rule, sev, clauses, ok := ruleFor(d.spec.Role, d.spec.Kind, d.spec.Managed, v.Zone)
			s, e := v.At, end
			if s.Before(from) {
				s = from
			}
			if e.After(until) {
				e = until
			}
			if !ok || !s.Before(e) {
				open = -1
				continue
			}
			if open >= 0 && out[open].Zone == v.Zone && out[open].Rule == rule {
				out[open].Until = e
				continue
			}
			out = append(out, Breach{MAC: d.spec.MAC, Zone: v.Zone, From: s, Until: e, Rule: rule, Severity: sev, Clauses: clauses})
			open = len(out) - 1
		}
	}
	slices.SortStableFunc(out, func(a, b Breach) int {
		return cmp.Or(a.From.Compare(b.From), strings.Compare(a.MAC, b.MAC))
	})
	return out
}
