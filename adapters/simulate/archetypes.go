package simulate

import "github.com/google/gopacket/layers"

// archetype is how one OS family behaves on the wire: the DHCP client's option set and
// order, its parameter request list (option 55), vendor class (60), maximum message
// size (57), the IP TTL of its packets, and the names it looks up.
//
// Where the facts come from is written on each archetype. "satori" is the public
// fingerprint database xnih/satori (fingerprints/dhcp.xml, read for comparison only,
// nothing is copied from it); "fingerbank" is the 2015 open Fingerbank table. Values
// no public source documents are marked "assumed" and kept deliberately plain.
type archetype struct {
	os   string // fingerprint OS family (rules/fingerprint Profile.OS)
	kind string // fingerprint kind (rules/fingerprint Profile.Kind)
	ttl  uint8  // IP TTL of the device's own packets

	// discover and request are the option codes of DHCPDISCOVER and DHCPREQUEST
	// (selecting state) in wire order, excluding the end option. Option 12 is dropped
	// for devices that send no host name.
	discover, request []layers.DHCPOpt
	params            []byte // option 55, in order
	vendorClass       string // option 60 (per device for Android, which puts its version in it)
	maxMsg            uint16 // option 57
	lease             uint32 // option 51 requested lease, seconds

	// dnsFirst is what the OS asks right after joining a network (its captive-portal
	// or connectivity check); dns is the pool its later queries come from.
	dnsFirst string
	dns      []string
}

// Shorthand for option codes.
const (
	oMsgType   = layers.DHCPOptMessageType   // 53
	oParams    = layers.DHCPOptParamsRequest // 55
	oMaxSize   = layers.DHCPOptMaxMessageSize
	oClientID  = layers.DHCPOptClientID
	oLease     = layers.DHCPOptLeaseTime
	oHostname  = layers.DHCPOptHostname
	oVendor    = layers.DHCPOptClassID
	oRequestIP = layers.DHCPOptRequestIP
	oServerID  = layers.DHCPOptServerID
	oFQDN      = layers.DHCPOpt(81)
)

// The archetypes the simulated school uses. They are functions, not package
// variables, so that no caller can change a table another School uses.

// iOS / iPadOS 16+ (Apple's IPConfiguration client). Option order 53 55 57 61
// [50 54] 51 12, option 55 = 1 121 3 6 15 108 114 119 252 (108 IPv6-only
// preferred, RFC 8925, and 114 captive-portal URI, RFC 8910, appear from iOS 16);
// 57 = 1500; 51 asks for 90 days; 61 = type 1 + MAC. The order is the long-standing
// Apple one (satori lists 53,55,57,61,51,12; fingerbank's iOS 55 lists end in
// 119,252); 108/114 match the recent macOS capture in tcpdump's test
// dhcp-option-108.pcapng. Many iOS 16+ devices send no option 12 (the private
// Wi-Fi address feature also withholds the name). Connectivity check:
// captive.apple.com (Apple's captive network assistant); time-ios.apple.com is
// iOS's NTP server.
func archIOS() *archetype {
	return &archetype{
		os: "ios", kind: "phone", ttl: 64,
		discover: []layers.DHCPOpt{oMsgType, oParams, oMaxSize, oClientID, oLease, oHostname},
		request:  []layers.DHCPOpt{oMsgType, oParams, oMaxSize, oClientID, oRequestIP, oServerID, oLease, oHostname},
		params:   []byte{1, 121, 3, 6, 15, 108, 114, 119, 252},
		maxMsg:   1500, lease: 7776000,
		dnsFirst: "captive.apple.com",
		dns: []string{
			"time-ios.apple.com", "gateway.icloud.com", "1-courier.push.apple.com", "init.itunes.apple.com",
			"mesu.apple.com", "gsp-ssl.ls.apple.com", "weather-data.apple.com", "api.apple-cloudkit.com",
			"i.instagram.com", "app.snapchat.com", "www.tiktok.com", "g.whatsapp.net", "www.youtube.com",
			"i.ytimg.com", "api.spotify.com",
		},
	}
}

// iPadOS (school iPads, supervised by the school's MDM): the same DHCP client as
// iOS. The MDM sets the device name, which becomes option 12, and turns the private
// address off, so the Apple OUI shows. DNS: Apple's MDM and push services and the
// school's Jamf Cloud instance.
func archIPadOS() *archetype {
	return &archetype{
		os: "ipados", kind: "tablet", ttl: 64,
		discover: archIOS().discover, request: archIOS().request, params: archIOS().params,
		maxMsg: 1500, lease: 7776000,
		dnsFirst: "captive.apple.com",
		dns: []string{
			"time-ios.apple.com", "1-courier.push.apple.com", "iprofiles.apple.com", "deviceenrollment.apple.com",
			"hmacademy.jamfcloud.com", "mesu.apple.com", "www.bbc.co.uk", "classroom.google.com",
		},
	}
}

// watchOS 9+: the same IPConfiguration client as iOS (assumed identical list; no
// public capture of an Apple Watch's DHCP exists, see reference/README.md). The
// default device name "Apple Watch" is sent as "Apple-Watch" when a name is sent.
func archWatchOS() *archetype {
	return &archetype{
		os: "watchos", kind: "smartwatch", ttl: 64,
		discover: archIOS().discover, request: archIOS().request, params: archIOS().params,
		maxMsg: 1500, lease: 7776000,
		dnsFirst: "captive.apple.com",
		dns:      []string{"time.apple.com", "1-courier.push.apple.com", "gateway.icloud.com", "mesu.apple.com", "weather-data.apple.com"},
	}
}

// Android 12–14 (the platform DhcpClient in NetworkStack). Order 53 61 57 60 12 55
// (DISCOVER) and 53 61 50 54 57 60 12 55 (REQUEST); 55 = 1 3 6 15 26 28 51 58 59
// 43 114 108; 60 = "android-dhcp-<release>"; 57 = 1500. Source: satori "Android
// 12.x/13.x/14.x" and the AOSP DhcpPacket.java. The host name is the device name
// with spaces as hyphens ("Galaxy-A14", "Pixel-7"); some builds send none.
// Connectivity check: connectivitycheck.gstatic.com (AOSP NetworkMonitor);
// time.android.com is the AOSP default NTP server; mtalk.google.com is FCM.
func archAndroid() *archetype {
	return &archetype{
		os: "android", kind: "phone", ttl: 64,
		discover: []layers.DHCPOpt{oMsgType, oClientID, oMaxSize, oVendor, oHostname, oParams},
		request:  []layers.DHCPOpt{oMsgType, oClientID, oRequestIP, oServerID, oMaxSize, oVendor, oHostname, oParams},
		params:   []byte{1, 3, 6, 15, 26, 28, 51, 58, 59, 43, 114, 108},
		maxMsg:   1500,
		dnsFirst: "connectivitycheck.gstatic.com",
		dns: []string{
			"www.google.com", "time.android.com", "mtalk.google.com", "android.clients.google.com",
			"play.googleapis.com", "www.googleapis.com", "i.instagram.com", "app.snapchat.com",
			"www.tiktok.com", "g.whatsapp.net", "www.youtube.com", "i.ytimg.com",
		},
	}
}

// Wear OS 4 (Android 13 based, e.g. Galaxy Watch5 after its update): Android's
// DhcpClient, hence the Android list and "android-dhcp-13" (brief; no public capture).
func archWearOS() *archetype {
	return &archetype{
		os: "wearos", kind: "smartwatch", ttl: 64,
		discover: archAndroid().discover, request: archAndroid().request, params: archAndroid().params,
		vendorClass: "android-dhcp-13", maxMsg: 1500,
		dnsFirst: "connectivitycheck.gstatic.com",
		dns:      []string{"time.android.com", "mtalk.google.com", "android.clients.google.com", "www.googleapis.com"},
	}
}

// Fitbit Wi-Fi trackers/watches (Sense, Versa). No public DHCP capture exists; the
// shape is lwIP's dhcp.c (embedded stack): 53 57 55 (+ 50 54 in REQUEST), 55 =
// 1 3 28 6, 57 = the MTU, no host name, no vendor class (assumed). Fitbit devices
// keep their IEEE MAC (Fitbit, Inc. OUIs). DNS: Fitbit's sync and API hosts.
func archFitbit() *archetype {
	return &archetype{
		os: "fitbit", kind: "fitness-tracker", ttl: 64,
		discover: []layers.DHCPOpt{oMsgType, oMaxSize, oParams},
		request:  []layers.DHCPOpt{oMsgType, oMaxSize, oRequestIP, oServerID, oParams},
		params:   []byte{1, 3, 28, 6},
		maxMsg:   1500,
		dnsFirst: "fsync.fitbit.com",
		dns:      []string{"fsync.fitbit.com", "api.fitbit.com"},
	}
}

// Windows 10/11 (the DHCP Client service). DISCOVER 53 61 12 60 55; REQUEST 53 61
// 50 54 12 81 60 55; 55 = 1 3 6 15 31 33 43 44 46 47 119 121 249 252; 60 =
// "MSFT 5.0"; 81 carries the computer name; no option 57; TTL 128. Source: satori
// "Windows 10 - 1607" ... "Windows 11 - 22000". Connectivity check:
// www.msftconnecttest.com and dns.msftncsi.com (Windows NCSI).
func archWindows() *archetype {
	return &archetype{
		os: "windows", kind: "laptop", ttl: 128,
		discover:    []layers.DHCPOpt{oMsgType, oClientID, oHostname, oVendor, oParams},
		request:     []layers.DHCPOpt{oMsgType, oClientID, oRequestIP, oServerID, oHostname, oFQDN, oVendor, oParams},
		params:      []byte{1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252},
		vendorClass: "MSFT 5.0",
		dnsFirst:    "www.msftconnecttest.com",
		dns: []string{
			"dns.msftncsi.com", "login.microsoftonline.com", "settings-win.data.microsoft.com",
			"v10.events.data.microsoft.com", "ctldl.windowsupdate.com", "officeclient.microsoft.com",
			"outlook.office365.com", "teams.microsoft.com", "hmacademy.sharepoint.com",
		},
	}
}

// ChromeOS (shill's dhcpcd). DISCOVER 53 61 57 60 [12] 55, REQUEST 53 61 50 54 57
// 60 [12] 55; 55 = 1 121 33 3 6 12 15 26 28 51 54 58 59 119 252; 60 = "chromeos";
// source: satori "Chromebook"/"ChromeOS". Managed Chromebooks send a host name when
// the Google Admin policy DeviceHostnameTemplate sets one (here "HMA-CB-${ASSET_ID}");
// dhcpcd puts 12 after 60. Connectivity check: clients3.google.com/generate_204;
// m.google.com is the Chrome device-management server.
func archChromeOS() *archetype {
	return &archetype{
		os: "chromeos", kind: "laptop", ttl: 64,
		discover:    []layers.DHCPOpt{oMsgType, oClientID, oMaxSize, oVendor, oHostname, oParams},
		request:     []layers.DHCPOpt{oMsgType, oClientID, oRequestIP, oServerID, oMaxSize, oVendor, oHostname, oParams},
		params:      []byte{1, 121, 33, 3, 6, 12, 15, 26, 28, 51, 54, 58, 59, 119, 252},
		vendorClass: "chromeos", maxMsg: 1500,
		dnsFirst: "clients3.google.com",
		dns: []string{
			"m.google.com", "accounts.google.com", "clients2.google.com", "clients4.google.com",
			"www.gstatic.com", "classroom.google.com", "docs.google.com",
		},
	}
}

// Nintendo Switch. DISCOVER 53 57 55, REQUEST 53 50 54 57 55, 55 = 1 3 6 28, no
// host name, no vendor class; source: satori "Nintendo Switch". 57 = 1500 is
// assumed. Keeps its IEEE MAC (Nintendo OUI). Connectivity check:
// ctest.cdn.nintendo.net; the other names are the Switch's account (ndas), eShop
// (d4c) and notification hosts documented by the homebrew community (switchbrew).
func archSwitch() *archetype {
	return &archetype{
		os: "nintendo", kind: "games-console", ttl: 64,
		discover: []layers.DHCPOpt{oMsgType, oMaxSize, oParams},
		request:  []layers.DHCPOpt{oMsgType, oRequestIP, oServerID, oMaxSize, oParams},
		params:   []byte{1, 3, 6, 28},
		maxMsg:   1500,
		dnsFirst: "ctest.cdn.nintendo.net",
		dns: []string{
			"aauth-lp1.ndas.srv.nintendo.net", "dauth-lp1.ndas.srv.nintendo.net", "sun.hac.lp1.d4c.nintendo.net",
			"receive-lp1.dg.srv.nintendo.net", "accounts.nintendo.com", "api.accounts.nintendo.com",
		},
	}
}

// Kindle e-reader (firmware 5.12+, busybox udhcpc 1.28). DISCOVER 53 61 57 55 60,
// REQUEST 53 61 50 54 57 55 60, 55 = 1 3 6 12 15 28 42, 60 = "udhcp 1.28.3", no
// host name; source: satori "Kindle Firmware 5.12.x". 57 = 576 is busybox's
// default. Keeps its IEEE MAC (Amazon OUI). Connectivity check:
// spectrum.s3.amazonaws.com; then Kindle's time, messaging and sync hosts.
func archKindle() *archetype {
	return &archetype{
		os: "kindle", kind: "e-reader", ttl: 64,
		discover:    []layers.DHCPOpt{oMsgType, oClientID, oMaxSize, oParams, oVendor},
		request:     []layers.DHCPOpt{oMsgType, oClientID, oRequestIP, oServerID, oMaxSize, oParams, oVendor},
		params:      []byte{1, 3, 6, 12, 15, 28, 42},
		vendorClass: "udhcp 1.28.3", maxMsg: 576,
		dnsFirst: "spectrum.s3.amazonaws.com",
		dns: []string{
			"kindle-time.amazon.com", "device-messaging-na.amazon.com", "todo-ta-g7g.amazon.com",
			"det-ta-g7g.amazon.com",
		},
	}
}

// IEEE OUIs (MA-L) of the makers whose devices keep their burnt-in address, from the
// IEEE registry (Debian's ieee-data oui.csv), space-separated.
const (
	ouiApple    = "60:8b:0e 88:b2:91 c4:2a:d0 cc:d2:81"
	ouiDell     = "98:e7:43 c8:f7:50 6c:2b:59 dc:f4:01"
	ouiHP       = "04:0e:3c f8:0d:ac 50:81:40 5c:60:ba"
	ouiLenovo   = "10:c5:95 a4:11:94"
	ouiAcer     = "c0:98:79 00:01:24"
	ouiIntel    = "ac:ed:5c 34:f6:4b 90:61:ae"
	ouiNintendo = "98:e8:fa ec:c4:0d 60:6b:ff 64:b5:c6"
	ouiAmazon   = "68:db:f5 4c:17:44 7c:61:66 44:00:49"
	ouiFitbit   = "f0:51:ea 58:a8:7b 5c:75:af"
)
