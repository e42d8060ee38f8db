package fingerprint

import "strings"

// The signature tables. Each row says where its facts come from. "satori" is
// xnih/satori fingerprints/dhcp.xml (2025) and "fingerbank" the 2015 open
// Fingerbank table, both used as public references to compare against (no rows
// are copied from them); "lab" is what this project's lab tests observe from
// real clients (udhcpc, dhclient, dhcpcd) in network namespaces.

// hint is one suggestion with a weight in 0..1.
type hint struct {
	suggests string // "kind=phone", "os=ios", "vendor=Apple", or "os!=windows" (counter-evidence)
	weight   float64
}

// paramListSig matches option 55 exactly, or as a prefix when prefix is set.
type paramListSig struct {
	list   []uint8
	prefix bool
	label  string
	hints  []hint
}

var paramListSigs = []paramListSig{
	// Apple macOS: the iOS list followed by 95 (LDAP), 44, 46 (NetBIOS). Seen in
	// tcpdump's dhcp-option-108.pcapng (macOS 15, 2025) and fingerbank "Mac OS X".
	// On Wi-Fi a Mac is nearly always a MacBook (laptops are most Macs sold,
	// and iMacs/minis are usually wired), hence kind=laptop 0.5.
	// macOS runs only on Macs, so the list is also evidence against a phone
	// (kind!=phone): phone-app names from a Mac (WhatsApp, Instagram desktop
	// apps) must not turn it into one.
	{[]uint8{1, 121, 3, 6, 15, 108, 114, 119, 252, 95, 44, 46}, false, "macos", []hint{{"os=macos", 0.75}, {"vendor=Apple", 0.8}, {"kind=laptop", 0.5}, {"kind=desktop", 0.2}, {"kind!=phone", 0.8}}},
	{[]uint8{1, 121, 3, 6, 15, 114, 119, 252, 95, 44, 46}, false, "macos", []hint{{"os=macos", 0.75}, {"vendor=Apple", 0.8}, {"kind=laptop", 0.5}, {"kind=desktop", 0.2}, {"kind!=phone", 0.8}}},
	{[]uint8{1, 121, 3, 6, 15, 119, 252, 95, 44, 46}, false, "macos", []hint{{"os=macos", 0.7}, {"vendor=Apple", 0.8}, {"kind=laptop", 0.5}, {"kind=desktop", 0.2}, {"kind!=phone", 0.8}}},
	// iOS/iPadOS/watchOS 16+: adds 108 (RFC 8925 IPv6-only preferred) and 114
	// (RFC 8910 captive-portal URL) to the iOS 10-15 list; Apple's platform
	// deployment docs on RFC 8925/8910 support. The device kind (iPhone, iPad,
	// Watch) is not in the list: hostname, DNS or the register must decide.
	{[]uint8{1, 121, 3, 6, 15, 108, 114, 119, 252}, false, "ios-16+", []hint{{"os=ios", 0.6}, {"vendor=Apple", 0.8}, {"kind=phone", 0.3}, {"kind=tablet", 0.25}}},
	{[]uint8{1, 121, 3, 6, 15, 114, 119, 252}, false, "ios-14+", []hint{{"os=ios", 0.6}, {"vendor=Apple", 0.8}, {"kind=phone", 0.3}, {"kind=tablet", 0.25}}},
	// iOS 10-15 and several macOS releases send the same list (satori "iPad
	// 12.1/13.5"; fingerbank lists it for both): Apple, but phone vs Mac is open.
	{[]uint8{1, 121, 3, 6, 15, 119, 252}, false, "apple-shared", []hint{{"vendor=Apple", 0.8}, {"os=ios", 0.35}, {"os=macos", 0.3}, {"kind=phone", 0.2}, {"kind=laptop", 0.2}}},
	// Android 10-14 (satori "Android 10.x".."14.x"; AOSP DhcpPacket.java
	// DEFAULT_REQUESTED_PARAMS, 108 and 114 added in Android 11+).
	{[]uint8{1, 3, 6, 15, 26, 28, 51, 58, 59, 43}, true, "android-10+", []hint{{"os=android", 0.6}}},
	// Windows 10/11 (satori "Windows 10", "Windows 10 - 1607"; Microsoft's DHCP
	// client requests 249 classless routes and 252 WPAD).
	{[]uint8{1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252}, false, "windows-10+", []hint{{"os=windows", 0.65}}},
	{[]uint8{1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 121, 249, 252}, false, "windows-10", []hint{{"os=windows", 0.65}}},
	// Windows XP-7 order (eapon1.pcap in tcpdump's tests, fingerbank "Windows XP").
	{[]uint8{1, 15, 3, 6, 44, 46, 47, 31, 33, 249, 43}, true, "windows-legacy", []hint{{"os=windows", 0.6}}},
	// ChromeOS (shill + dhcpcd; satori "Chromebook", 2023).
	{[]uint8{1, 121, 33, 3, 6, 12, 15, 26, 28, 51, 54, 58, 59, 119}, true, "chromeos", []hint{{"os=chromeos", 0.65}, {"kind=laptop", 0.55}}},
	// Nintendo Switch (satori "Nintendo Switch", 2019).
	{[]uint8{1, 3, 6, 28}, false, "nintendo-switch", []hint{{"os=nintendo", 0.5}, {"kind=games-console", 0.5}}},
	// PlayStation 3/4/5 (satori "PlayStation 3/4/5": 1,3,15,6).
	{[]uint8{1, 3, 15, 6}, false, "playstation", []hint{{"os=playstation", 0.4}, {"kind=games-console", 0.4}}},
	// BusyBox udhcpc default list (busybox networking/udhcp/common.c options
	// flagged OPTION_REQ; lab: BusyBox 1.35 udhcpc sends exactly this): embedded
	// Linux such as Kindles, cameras, plugs.
	{[]uint8{1, 3, 6, 12, 15, 28, 42}, false, "udhcpc", []hint{{"os=linux", 0.4}}},
	// lwIP (the embedded TCP/IP stack of most Wi-Fi modules: ESP-IDF's older
	// releases, High-Flying HF-LPB, Osram Lightify, Fitbit): dhcp.c requests
	// exactly subnet mask, router, broadcast, DNS server, in that order
	// (lwIP src/core/ipv4/dhcp.c dhcp_discover_request_options). No phone,
	// tablet or PC OS uses lwIP. Fitbit's own products are told apart by OUI.
	{[]uint8{1, 3, 28, 6}, false, "lwip", []hint{{"kind=iot", 0.5}, {"os!=windows", 0.3}}},
	// ISC dhclient with Debian/Ubuntu's stock dhclient.conf (lab: isc-dhcp-client
	// 4.4.3 sends exactly this; also zeek's dhcp_time_and_nameserver.pcap, "pop-os").
	// A prefix: NetworkManager's dhclient backend writes its own config with the
	// stock request list and appends "also request" lines (ms-classless-static-
	// routes 249, static-routes 33, wpad 252, ...: NetworkManager
	// src/dhcp/tests/test-dhcp-dhclient.c, orig_missing_expected), as in the
	// zeek capture (…,42,4,5,249,33,252).
	{[]uint8{1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42}, true, "isc-dhclient", []hint{{"os=linux", 0.5}}},
}

// stringSig matches a lower-cased string (vendor class, host name, DNS name).
type stringSig struct {
	match string // see matchKind
	how   matchKind
	label string
	hints []hint
}

type matchKind uint8

const (
	exact matchKind = iota
	prefix
	contains
	suffix
	prefixHex6 // the prefix followed by exactly six hex digits
	epdgName   // an ePDG FQDN: ends with match (".pub.3gppnetwork.org") and has an "epdg.epc." label pair
)

func (s stringSig) matches(v string) bool {
	switch s.how {
	case exact:
		return v == s.match
	case prefix:
		return strings.HasPrefix(v, s.match)
	case suffix:
		return strings.HasSuffix(v, s.match)
	case contains:
		return strings.Contains(v, s.match)
	case epdgName:
		return strings.HasSuffix(v, s.match) && (strings.HasPrefix(v, "epdg.epc.") || strings.Contains(v, ".epdg.epc."))
	case prefixHex6:
		rest, ok := strings.CutPrefix(v, s.match)
		if !ok || len(rest) != 6 {
			return false
		}
		for i := 0; i < len(rest); i++ {
			if _, ok := unhex(rest[i]); !ok {
				return false
			}
		}
		return true
	}
	return false
}

// vendorClassSigs match option 60, first match wins.
var vendorClassSigs = []stringSig{
	// AOSP DhcpClient sends "android-dhcp-" + Build.VERSION.RELEASE (Android 10+;
	// satori Android 10-14). Wear OS is Android and sends it too.
	{"android-dhcp-", prefix, "android", []hint{{"os=android", 0.85}, {"kind=phone", 0.4}, {"kind=tablet", 0.15}}},
	// Microsoft's DHCP client, Windows 2000 onwards (MS-DHCPE; satori Windows 10).
	// Windows is no longer a phone OS (Windows 10 Mobile support ended 14 January
	// 2020, Microsoft Lifecycle), so it is evidence against a phone (kind!=phone).
	// Xbox consoles (satori "Xbox", 2020: vendor code "MSFT 5.0 XBOX").
	{"msft 5.0 xbox", exact, "xbox", []hint{{"os=xbox", 0.9}, {"kind=games-console", 0.9}, {"vendor=Microsoft", 0.8}}},
	// HallMonitor watches Wi-Fi: Windows clients there are laptops (and
	// Surface-style 2-in-1s, which the policy treats as laptops); desktops are
	// wired. So MSFT 5.0 leans laptop (0.5) rather than desktop (0.2).
	{"msft 5.0", exact, "windows", []hint{{"os=windows", 0.85}, {"kind=laptop", 0.5}, {"kind=desktop", 0.2}, {"kind!=phone", 0.8}}},
	{"msft", prefix, "windows", []hint{{"os=windows", 0.7}, {"kind!=phone", 0.6}}},
	// PlayStation (satori "PlayStation 4/5", "PS Vita": exact vendor codes).
	{"ps5", exact, "ps5", []hint{{"os=playstation", 0.95}, {"kind=games-console", 0.95}, {"vendor=Sony Interactive Entertainment", 0.9}}},
	{"ps4", exact, "ps4", []hint{{"os=playstation", 0.95}, {"kind=games-console", 0.95}, {"vendor=Sony Interactive Entertainment", 0.9}}},
	{"ps vita", exact, "ps-vita", []hint{{"os=playstation", 0.9}, {"kind=games-console", 0.9}, {"vendor=Sony Interactive Entertainment", 0.9}}},
	// Nintendo handhelds/consoles that identify themselves (satori Nintendo rows).
	{"nintendo", prefix, "nintendo", []hint{{"os=nintendo", 0.9}, {"kind=games-console", 0.85}, {"vendor=Nintendo", 0.9}}},
	// ChromeOS (satori "ChromeOS", 2023: vendor code "chromeos").
	// ChromeOS runs Android phone apps from Play, but never on a phone.
	{"chromeos", prefix, "chromeos", []hint{{"os=chromeos", 0.9}, {"kind=laptop", 0.6}, {"kind!=phone", 0.8}}},
	// dhcpcd's default "dhcpcd-VERSION:OS-RELEASE:MACHINE:PLATFORM" (dhcpcd(8)
	// --vendorclassid; lab: dhcpcd 10). Raspberry Pi OS, older Android, Linux.
	{"dhcpcd-", prefix, "dhcpcd", []hint{{"os=linux", 0.5}}},
	// BusyBox udhcpc sends "udhcp VERSION" (busybox udhcpc -V default; lab).
	// udhcpc is the DHCP client of embedded Linux firmware: cameras, plugs,
	// hubs, e-readers (Kindle, see the DNS rows), and OpenWrt-class routers.
	// Phones (AOSP DhcpClient), ChromeOS (dhcpcd/shill), desktop Linux
	// (dhclient, NetworkManager) and Windows/Apple never send it, so alone it
	// decides "iot"; a Kindle's own DNS names outweigh it.
	{"udhcp ", prefix, "udhcp", []hint{{"os=linux", 0.5}, {"kind=iot", 0.5}, {"kind!=phone", 0.6}}},
}

// hostnameSigs match the lower-cased host name (option 12/81 or mDNS), first
// match wins, so the specific rows come first. Default device names are from
// vendor documentation: Apple names devices "<Name>'s iPhone/iPad/Apple
// Watch/MacBook" (sent as "Names-iPhone"); Samsung "Galaxy <model>"; Windows
// setup assigns DESKTOP-XXXXXXX / OEM images LAPTOP-XXXXXXX; Kindle
// "kindle-<hex>"; Android < 8 "android-<hex>".
var hostnameSigs = []stringSig{
	{"apple-watch", contains, "apple-watch", []hint{{"kind=smartwatch", 0.85}, {"os=watchos", 0.85}, {"vendor=Apple", 0.8}}},
	{"applewatch", contains, "apple-watch", []hint{{"kind=smartwatch", 0.85}, {"os=watchos", 0.85}, {"vendor=Apple", 0.8}}},
	{"iphone", contains, "iphone", []hint{{"kind=phone", 0.85}, {"os=ios", 0.8}, {"vendor=Apple", 0.8}}},
	{"ipad", contains, "ipad", []hint{{"kind=tablet", 0.85}, {"os=ipados", 0.8}, {"vendor=Apple", 0.8}}},
	{"macbook", contains, "macbook", []hint{{"kind=laptop", 0.85}, {"os=macos", 0.8}, {"vendor=Apple", 0.8}}},
	{"imac", contains, "imac", []hint{{"kind=desktop", 0.8}, {"os=macos", 0.8}, {"vendor=Apple", 0.8}}},
	{"mac-mini", contains, "mac-mini", []hint{{"kind=desktop", 0.8}, {"os=macos", 0.8}, {"vendor=Apple", 0.8}}},
	{"galaxy-watch", contains, "galaxy-watch", []hint{{"kind=smartwatch", 0.85}, {"os=wearos", 0.8}, {"vendor=Samsung", 0.8}}},
	{"galaxy-tab", contains, "galaxy-tab", []hint{{"kind=tablet", 0.85}, {"os=android", 0.8}, {"vendor=Samsung", 0.8}}},
	{"galaxy", contains, "galaxy", []hint{{"kind=phone", 0.75}, {"os=android", 0.75}, {"vendor=Samsung", 0.75}}},
	{"pixel-watch", contains, "pixel-watch", []hint{{"kind=smartwatch", 0.85}, {"os=wearos", 0.8}, {"vendor=Google", 0.7}}},
	{"pixelbook", prefix, "pixelbook", []hint{{"kind=laptop", 0.8}, {"os=chromeos", 0.8}, {"vendor=Google", 0.7}}},
	{"pixel", prefix, "pixel", []hint{{"kind=phone", 0.7}, {"os=android", 0.7}, {"vendor=Google", 0.7}}},
	{"android-", prefix, "android", []hint{{"os=android", 0.6}, {"kind=phone", 0.3}}},
	{"android_", prefix, "android", []hint{{"os=android", 0.6}, {"kind=phone", 0.3}}},
	{"laptop-", prefix, "windows-laptop", []hint{{"os=windows", 0.6}, {"kind=laptop", 0.6}}},
	// Windows setup names every PC DESKTOP-XXXXXXX whatever its form factor
	// (retail installs and many school images), so it says little of the kind.
	{"desktop-", prefix, "windows-default", []hint{{"os=windows", 0.6}, {"kind=desktop", 0.2}, {"kind=laptop", 0.2}}},
	// Ubuntu's desktop installer (ubiquity, usersetup plugin) names a machine
	// "<user>-laptop" when laptop-detect finds a battery and "<user>-desktop"
	// otherwise (OEM installs: "oem-laptop"/"oem-desktop"); ubiquity/plugins/
	// ubi-usersetup.py, hostname_suffix. Owners naming a computer "…-laptop"
	// say the same. Nothing else is implied (the OS may be any).
	{"-laptop", suffix, "laptop-name", []hint{{"kind=laptop", 0.6}}},
	{"-desktop", suffix, "desktop-name", []hint{{"kind=desktop", 0.6}}},
	// Pop!_OS's installer (pop-os/distinst) does not ask for a host name and
	// installs with "pop-os" (distinst's install script: HOSTNAME="pop-os").
	// Pop!_OS runs on System76's laptops and desktops alike: no kind.
	{"pop-os", exact, "pop-os", []hint{{"os=linux", 0.6}}},
	{"surface", contains, "surface", []hint{{"os=windows", 0.5}, {"kind=laptop", 0.5}, {"vendor=Microsoft", 0.5}}},
	{"chromebook", contains, "chromebook", []hint{{"os=chromeos", 0.8}, {"kind=laptop", 0.8}}},
	{"kindle", prefix, "kindle", []hint{{"kind=e-reader", 0.85}, {"os=kindle", 0.85}, {"vendor=Amazon", 0.8}}},
	{"nintendo", contains, "nintendo", []hint{{"kind=games-console", 0.8}, {"os=nintendo", 0.8}, {"vendor=Nintendo", 0.8}}},
	{"ps5-", prefix, "ps5", []hint{{"kind=games-console", 0.8}, {"os=playstation", 0.8}, {"vendor=Sony Interactive Entertainment", 0.7}}},
	{"ps4-", prefix, "ps4", []hint{{"kind=games-console", 0.8}, {"os=playstation", 0.8}, {"vendor=Sony Interactive Entertainment", 0.7}}},
	{"xbox", contains, "xbox", []hint{{"kind=games-console", 0.8}, {"os=xbox", 0.8}, {"vendor=Microsoft", 0.7}}},
	{"fitbit", contains, "fitbit", []hint{{"kind=fitness-tracker", 0.6}, {"vendor=Fitbit", 0.8}}},
	// Printers' factory node names: Brother "BRW" (wireless) / "BRN" (wired)
	// + the MAC (Brother network user's guides, "Node name"); Epson
	// "EPSON" + the MAC's last six digits (Epson network guides).
	{"brw", prefix, "brother-printer", []hint{{"kind=printer", 0.7}, {"vendor=Brother", 0.6}}},
	{"brn", prefix, "brother-printer", []hint{{"kind=printer", 0.7}, {"vendor=Brother", 0.6}}},
	// HP printers: "HP" + the MAC's last six hex digits (HP Embedded Web
	// Server default host name). HP laptops come named LAPTOP-/DESKTOP-.
	{"hp", prefixHex6, "hp-printer", []hint{{"kind=printer", 0.7}, {"vendor=HP", 0.6}}},
	{"epson", prefix, "epson-printer", []hint{{"kind=printer", 0.7}, {"vendor=Epson", 0.6}}},
	// GainSpan Corp. (IEEE OUI 00:1D:C9; acquired by Telit, 2016) made only
	// low-power Wi-Fi SoCs and modules for embedded sensors and appliances
	// (the Fitbit Aria scale, thermostats, meters): a host name naming
	// the module maker ("GainSpan" + the MAC's last six hex digits, as in the
	// IoT Sentinel Aria capture, which prompted this row) is module firmware,
	// not a phone or PC OS.
	{"gainspan", prefixHex6, "gainspan-module", []hint{{"kind=iot", 0.6}, {"os!=windows", 0.3}}},
	{"raspberrypi", prefix, "raspberry-pi", []hint{{"os=linux", 0.6}, {"kind=iot", 0.4}, {"vendor=Raspberry Pi", 0.6}}},
}

// dnsSigs match a lower-cased query name. Connectivity checks are documented by
// each vendor: Apple captive.apple.com (Apple "Captive Network Assistant"),
// Android connectivitycheck.gstatic.com / .android.com (AOSP
// NetworkMonitor), ChromeOS and older Android clients3.google.com/generate_204,
// Windows NCSI www.msftconnecttest.com / www.msftncsi.com (Microsoft Learn
// "NCSI overview"), Nintendo Switch ctest.cdn.nintendo.net, Kindle
// spectrum.s3.amazonaws.com "wifistub" and kindle-time.amazon.com. Names that
// a phone app also looks up (playstation.net, xboxlive.com, fitbit.com) get low
// weights: a phone with the PlayStation app is still a phone.
var dnsSigs = []stringSig{
	{"captive.apple.com", exact, "apple-captive", []hint{{"vendor=Apple", 0.7}, {"os=ios", 0.3}, {"os=macos", 0.25}}},
	{".ls.apple.com", suffix, "apple-location", []hint{{"vendor=Apple", 0.5}}},
	{"connectivitycheck.gstatic.com", exact, "android-check", []hint{{"os=android", 0.6}}},
	{"connectivitycheck.android.com", exact, "android-check", []hint{{"os=android", 0.6}}},
	{"clients3.google.com", exact, "google-204", []hint{{"os=android", 0.3}, {"os=chromeos", 0.3}}},
	// NCSI probes come from Windows itself, which no longer runs on phones
	// (Windows 10 Mobile support ended January 2020): also against a phone.
	{"www.msftconnecttest.com", exact, "windows-ncsi", []hint{{"os=windows", 0.6}, {"kind!=phone", 0.5}}},
	{"ipv6.msftconnecttest.com", exact, "windows-ncsi", []hint{{"os=windows", 0.6}, {"kind!=phone", 0.5}}},
	{"www.msftncsi.com", exact, "windows-ncsi", []hint{{"os=windows", 0.6}, {"kind!=phone", 0.5}}},
	{"dns.msftncsi.com", exact, "windows-ncsi", []hint{{"os=windows", 0.6}, {"kind!=phone", 0.5}}},
	{"ctest.cdn.nintendo.net", exact, "nintendo-check", []hint{{"os=nintendo", 0.8}, {"kind=games-console", 0.75}, {"vendor=Nintendo", 0.7}}},
	{"conntest.nintendowifi.net", exact, "nintendo-check", []hint{{"os=nintendo", 0.8}, {"kind=games-console", 0.75}, {"vendor=Nintendo", 0.7}}},
	{".nintendo.net", suffix, "nintendo", []hint{{"os=nintendo", 0.35}, {"kind=games-console", 0.3}}},
	{".playstation.net", suffix, "playstation", []hint{{"os=playstation", 0.3}, {"kind=games-console", 0.25}}},
	{".xboxlive.com", suffix, "xbox", []hint{{"os=xbox", 0.25}, {"kind=games-console", 0.2}}},
	{"kindle-time.amazon.com", exact, "kindle", []hint{{"os=kindle", 0.7}, {"kind=e-reader", 0.6}, {"vendor=Amazon", 0.6}}},
	{"spectrum.s3.amazonaws.com", exact, "kindle-wifistub", []hint{{"os=kindle", 0.6}, {"kind=e-reader", 0.5}, {"vendor=Amazon", 0.5}}},
	// Wi-Fi calling. A 3GPP device with a SIM (or eSIM) selects its carrier's
	// ePDG by resolving an FQDN built from the SIM's MCC/MNC over the Wi-Fi it
	// is on: "epdg.epc.mnc<MNC>.mcc<MCC>.pub.3gppnetwork.org", or the
	// tracking/location-area forms "tac-lb…tac-hb….tac.epdg.epc.…",
	// "lac<LAC>.epdg.epc.…" and "sos.epdg.epc.…" for emergency calls
	// (3GPP TS 23.003 §19.4.2.9, TS 24.302 §7.2.1 ePDG selection; AOSP
	// packages/modules/Iwlan EpdgSelector.java builds exactly these). Only
	// devices that make carrier voice calls do it: phones, and cellular
	// watches calling without their phone; cellular iPads and tablets have no
	// carrier voice service, laptops no IMS client. The bypass detector uses
	// the same names to tell Wi-Fi calling's IKE from a VPN (capture/bypass.go).
	{".pub.3gppnetwork.org", epdgName, "wifi-calling", []hint{{"kind=phone", 0.45}, {"kind=smartwatch", 0.1}}},
	{".fitbit.com", suffix, "fitbit", []hint{{"vendor=Fitbit", 0.2}}},
	{".garmin.com", suffix, "garmin", []hint{{"vendor=Garmin", 0.2}}},

	// Apple network time. iOS and iPadOS set the clock from time-ios.apple.com,
	// macOS from time.apple.com (or time.euro/asia.apple.com, its Date & Time
	// choices): Apple Support "Use Apple products on enterprise networks" lists
	// time-ios.apple.com for devices setting their date and time; macOS's
	// time.apple.com default is in its Date & Time settings (Eclectic Light,
	// "System time, clocks and their syncing in macOS", 2025). iOS runs on
	// iPhones and iPads alike, so the kind leans phone only modestly: pupils
	// carry phones far more often than their own tablets, and the policy names
	// tablets too, so a personal iPad called "phone" would still be wrong.
	// time.apple.com is only a weak macOS hint (older iOS, watchOS and apps can
	// ask for it) and says nothing of the kind.
	{"time-ios.apple.com", exact, "apple-time-ios", []hint{{"os=ios", 0.6}, {"os=ipados", 0.2}, {"vendor=Apple", 0.6}, {"kind=phone", 0.25}, {"kind=tablet", 0.15}}},
	{"time.apple.com", exact, "apple-time-macos", []hint{{"os=macos", 0.3}, {"vendor=Apple", 0.5}}},
	{"time.euro.apple.com", exact, "apple-time-macos", []hint{{"os=macos", 0.3}, {"vendor=Apple", 0.5}}},
	{"time.asia.apple.com", exact, "apple-time-macos", []hint{{"os=macos", 0.3}, {"vendor=Apple", 0.5}}},

	// Android platform services. time.android.com is AOSP's default NTP server
	// (frameworks/base config_ntpServer); mtalk.google.com is Firebase Cloud
	// Messaging's connection endpoint (Google "FCM ports and your firewall":
	// mtalk.google.com on 5228-5230); android.clients.google.com and
	// play.googleapis.com are Google Play services / Play Store back ends
	// (Google's Android Enterprise network requirements). They are the OS, not
	// the form factor: Android tablets, Wear OS watches (see archWearOS) and
	// Chromebooks running Play apps ask for them too, so no kind hint. All of
	// them count as one "android-services" label.
	{"time.android.com", exact, "android-services", []hint{{"os=android", 0.5}}},
	{"mtalk.google.com", exact, "android-services", []hint{{"os=android", 0.5}}},
	{"android.clients.google.com", exact, "android-services", []hint{{"os=android", 0.5}}},
	{"play.googleapis.com", exact, "android-services", []hint{{"os=android", 0.5}}},

	// Mobile-app API hosts: names the phone apps use and browsers do not, so
	// they show an app on a phone (or, less often, a tablet), never on their
	// own a decision (0.25 < decideScore). Each app is one label, so one app's
	// many names count once, and distinct apps add up.
	// - i.instagram.com: the Instagram apps' private API host (the web client
	//   uses www.instagram.com); Instagram has had an iPad app only since 2024.
	// - app.snapchat.com and *.sc-cdn.net: the Snapchat app's API and media CDN.
	//   Snapchat is made for phones; its iPad app and Snapchat for Web (2022,
	//   web.snapchat.com) are minor, and the web client can load from sc-cdn.net.
	// - g.whatsapp.net: the WhatsApp phone client's chat endpoint (WhatsApp Web
	//   and the desktop apps connect to web.whatsapp.com instead). Weighted a
	//   little lower: the newer native desktop and iPad apps are not well
	//   documented.
	{"i.instagram.com", exact, "instagram-app", []hint{{"kind=phone", 0.25}, {"kind=tablet", 0.05}}},
	{"app.snapchat.com", exact, "snapchat-app", []hint{{"kind=phone", 0.25}, {"kind=tablet", 0.05}}},
	{".sc-cdn.net", suffix, "snapchat-app", []hint{{"kind=phone", 0.25}, {"kind=tablet", 0.05}}},
	{"g.whatsapp.net", exact, "whatsapp-app", []hint{{"kind=phone", 0.2}, {"kind=tablet", 0.05}}},
}

// vendorHints are what an IEEE OUI alone says about the kind of device. Most
// vendors make many kinds of device, so most hints are weak or absent (Apple,
// Amazon, Google, Microsoft: none). Sources: each vendor's product range.
var vendorHints = map[string][]hint{
	"Nintendo":                       {{"kind=games-console", 0.6}, {"os=nintendo", 0.6}},
	"Sony Interactive Entertainment": {{"kind=games-console", 0.6}, {"os=playstation", 0.6}},
	"Fitbit":                         {{"kind=fitness-tracker", 0.55}, {"kind!=iot", 0.5}}, // Wi-Fi Fitbits: Versa/Sense/Ionic watches, Aria scales (lwIP, see paramListSigs)
	"Garmin":                         {{"kind=smartwatch", 0.3}},
	"Withings":                       {{"kind=iot", 0.5}}, // Wi-Fi scales, sleep mats
	"Espressif":                      {{"kind=iot", 0.6}}, // ESP8266/ESP32 modules
	"Tuya":                           {{"kind=iot", 0.6}},
	"Philips Lighting":               {{"kind=iot", 0.6}}, // Hue bridges and lamps
	"Belkin":                         {{"kind=iot", 0.3}}, // WeMo; also routers
	"Edimax":                         {{"kind=iot", 0.3}}, // cameras, plugs; also adapters
	"Hikvision":                      {{"kind=iot", 0.6}}, // IP cameras
	"Dahua":                          {{"kind=iot", 0.6}},
	"Axis":                           {{"kind=iot", 0.6}},
	"Raspberry Pi":                   {{"kind=iot", 0.4}, {"os=linux", 0.5}},
	"Brother":                        {{"kind=printer", 0.6}},
	"Canon":                          {{"kind=printer", 0.4}},
	"Epson":                          {{"kind=printer", 0.5}},
	"Xerox":                          {{"kind=printer", 0.6}},
	"Ricoh":                          {{"kind=printer", 0.6}},
	"Kyocera":                        {{"kind=printer", 0.5}},
	"Cisco":                          {{"kind=network", 0.3}},
	"Ubiquiti":                       {{"kind=network", 0.5}},
	"Aruba":                          {{"kind=network", 0.5}},
	"Ruckus":                         {{"kind=network", 0.5}},
	"Sonos":                          {{"kind=tv-media", 0.6}},
	"Roku":                           {{"kind=tv-media", 0.6}},
	"Samsung":                        {{"kind=phone", 0.15}},
	"Huawei":                         {{"kind=phone", 0.15}},
	"Honor":                          {{"kind=phone", 0.2}, {"os=android", 0.2}},
	"Xiaomi":                         {{"kind=phone", 0.15}},
	"OPPO":                           {{"kind=phone", 0.2}, {"os=android", 0.2}},
	"OnePlus":                        {{"kind=phone", 0.2}, {"os=android", 0.2}},
	"vivo":                           {{"kind=phone", 0.2}, {"os=android", 0.2}},
	"realme":                         {{"kind=phone", 0.2}, {"os=android", 0.2}},
	"HMD Global":                     {{"kind=phone", 0.2}, {"os=android", 0.2}},
	"Intel":                          {{"kind=laptop", 0.2}}, // Intel Wi-Fi cards are in PCs
	"Dell":                           {{"kind=laptop", 0.2}},
	"HP":                             {{"kind=laptop", 0.15}},
	"Lenovo":                         {{"kind=laptop", 0.15}},
	"Acer":                           {{"kind=laptop", 0.2}},
	"ASUS":                           {{"kind=laptop", 0.15}},
	// Clevo designs and builds notebooks (barebone gaming and workstation
	// laptops sold as System76, Schenker/XMG, PC Specialist, Sager; DigiTimes
	// and ResearchInChina list it among Taiwan's second-tier notebook ODMs).
	"Clevo": {{"kind=laptop", 0.5}},
	// eQ-3 makes home-automation devices only (Homematic, Homematic IP, MAX!
	// radiator thermostats and their cube gateway; eQ-3 AG product range).
	"eQ-3": {{"kind=iot", 0.6}},
}
