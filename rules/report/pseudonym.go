package report

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// PseudonymPrefix starts every pseudonym.
const PseudonymPrefix = "device-"

// pseudonymHex is how many hex digits of the HMAC a pseudonym keeps: 40 bits, so
// two of a school's few thousand devices collide with a chance of about 1 in
// 250,000 (four digits would collide within a few hundred devices).
const pseudonymHex = 10

// Pseudonymiser returns the keyed pseudonym function SLT reports use:
// "device-" + the first 10 hex digits of HMAC-SHA256(secret, MAC). The same MAC
// and secret always give the same pseudonym, so a device can be followed from day
// to day without its MAC; without the secret a pseudonym cannot be reversed or
// recomputed from a list of MACs. MACs are compared in lower case.
func Pseudonymiser(secret []byte) func(mac string) string {
	key := append([]byte(nil), secret...)
	return func(mac string) string {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(strings.ToLower(mac)))
		return PseudonymPrefix + hex.EncodeToString(h.Sum(nil))[:pseudonymHex]
	}
}

// Unmasker is the DSL's way back: given the secret and the MACs that could be
// meant (those in the store for the day), it maps a pseudonym to its MAC. ok is
// false when no candidate has that pseudonym.
func Unmasker(secret []byte, candidates []string) func(pseudonym string) (mac string, ok bool) {
	p := Pseudonymiser(secret)
	byName := make(map[string]string, len(candidates))
	for _, mac := range candidates {
		byName[p(mac)] = strings.ToLower(mac)
	}
	return func(pseudonym string) (string, bool) {
		mac, ok := byName[strings.ToLower(strings.TrimSpace(pseudonym))]
		return mac, ok
	}
}
