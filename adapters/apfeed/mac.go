package apfeed

// NormalizeMAC returns s as a lower-case colon-separated MAC address
// ("aa:bb:cc:dd:ee:ff") when it is one in any of the usual spellings:
// aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff, aabbccddeeff (any case).
func NormalizeMAC(s string) (string, bool) {
	mac, n := macPrefix(s)
	if n == 0 || n != len(s) {
		return "", false
	}
	return mac, true
}

// SplitMAC reads a MAC address (any NormalizeMAC spelling) at the start of s
// and returns it normalised with the rest of s, e.g. RADIUS Called-Station-Id
// "AA-BB-CC-DD-EE-FF:Staff" → ("aa:bb:cc:dd:ee:ff", ":Staff", true).
func SplitMAC(s string) (mac, rest string, ok bool) {
	mac, n := macPrefix(s)
	if n == 0 {
		return "", s, false
	}
	return mac, s[n:], true
}

// macPrefix reads a MAC address at the start of s in any of the formats
// NormalizeMAC accepts and returns it normalised with the number of bytes it
// took; n is 0 when s does not start with a MAC address. A 12-digit form must
// not be followed by another hex digit (it would be a longer number).
func macPrefix(s string) (string, int) {
	var b [17]byte
	put := func(i int, hi, lo byte) {
		b[i*3], b[i*3+1] = lower(hi), lower(lo)
		if i < 5 {
			b[i*3+2] = ':'
		}
	}
	switch {
	case len(s) >= 17 && (s[2] == ':' || s[2] == '-'):
		sep := s[2]
		for i := range 6 {
			hi, lo := s[i*3], s[i*3+1]
			if !isHex(hi) || !isHex(lo) || (i < 5 && s[i*3+2] != sep) {
				return "", 0
			}
			put(i, hi, lo)
		}
		if len(s) > 17 && isHex(s[17]) {
			return "", 0
		}
		return string(b[:]), 17
	case len(s) >= 14 && s[4] == '.' && s[9] == '.':
		j := 0
		for i := range 6 {
			if j == 4 || j == 9 {
				j++
			}
			hi, lo := s[j], s[j+1]
			if !isHex(hi) || !isHex(lo) {
				return "", 0
			}
			put(i, hi, lo)
			j += 2
		}
		if len(s) > 14 && isHex(s[14]) {
			return "", 0
		}
		return string(b[:]), 14
	case len(s) >= 12:
		for i := range 6 {
			hi, lo := s[i*2], s[i*2+1]
			if !isHex(hi) || !isHex(lo) {
				return "", 0
			}
			put(i, hi, lo)
		}
		if len(s) > 12 && isHex(s[12]) {
			return "", 0
		}
		return string(b[:]), 12
	}
	return "", 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
