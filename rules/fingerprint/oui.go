package fingerprint

import "sort"

//go:generate go run gen_oui.go -in /usr/share/ieee-data/oui.csv -out oui_table.go

// parseMAC reads "aa:bb:cc:dd:ee:ff" (also "-" separated, any case) into its
// first three octets. ok is false for anything else.
func parseMAC(s string) (oui [3]byte, ok bool) {
	if len(s) != 17 {
		return oui, false
	}
	var b [6]byte
	for i := 0; i < 6; i++ {
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 || (i < 5 && s[3*i+2] != ':' && s[3*i+2] != '-') {
			return oui, false
		}
		b[i] = hi<<4 | lo
	}
	return [3]byte{b[0], b[1], b[2]}, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// IsRandomizedMAC reports whether mac has the locally-administered bit (0x02
// of the first octet) set: a private / randomized address (iOS 14+, Android
// 10+, Windows 10+ "random hardware addresses") that has no IEEE OUI.
func IsRandomizedMAC(mac string) bool {
	oui, ok := parseMAC(mac)
	return ok && oui[0]&0x02 != 0
}

// VendorOf returns the vendor of a globally-administered MAC from the built-in
// IEEE MA-L table (curated vendors only, see gen_oui.go), or "".
func VendorOf(mac string) string {
	oui, ok := parseMAC(mac)
	if !ok || oui[0]&0x02 != 0 {
		return ""
	}
	key := uint32(oui[0])<<16 | uint32(oui[1])<<8 | uint32(oui[2])
	i := sort.Search(len(ouiTable), func(i int) bool { return ouiTable[i]&0xffffff >= key })
	if i < len(ouiTable) && ouiTable[i]&0xffffff == key {
		return ouiVendors[ouiTable[i]>>24]
	}
	return ""
}
