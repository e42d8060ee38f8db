package radius

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// RoleRule maps 802.1X identities (RADIUS User-Name) to a HallMonitor role.
// Pattern is a glob matched case-insensitively against the whole identity:
// '*' matches any run of characters (including none, and including '@', '\'
// and '/'), '?' exactly one character; everything else is literal, so
// "SCHOOL\*" matches Windows-style "SCHOOL\jsmith".
type RoleRule struct {
	Pattern string // e.g. "*@staff.school.org", "pupil-*", "SCHOOL\*"
	Role    string
}

// RoleForIdentity returns the Role of the first rule whose Pattern matches
// identity, or "" when none does (or identity is empty).
func RoleForIdentity(rules []RoleRule, identity string) string {
	if identity == "" {
		return ""
	}
	for _, r := range rules {
		if globMatch(strings.ToLower(r.Pattern), strings.ToLower(identity)) {
			return r.Role
		}
	}
	return ""
}

// ValidateRoleRules reports every rule with an empty pattern or role, for
// configuration checks.
func ValidateRoleRules(rules []RoleRule) error {
	var errs []error
	for i, r := range rules {
		if r.Pattern == "" {
			errs = append(errs, fmt.Errorf("role rule %d: empty pattern", i+1))
		}
		if r.Role == "" {
			errs = append(errs, fmt.Errorf("role rule %d (%q): empty role", i+1, r.Pattern))
		}
	}
	return errors.Join(errs...)
}

// globMatch matches pattern against s with '*' and '?' (by rune), in
// O(len(pattern)·len(s)) at worst: the classic single-backtrack algorithm
// (a later '*' supersedes an earlier one, so no exponential blow-up).
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			switch pattern[p] {
			case '*':
				starP, starI = p, i
				p++
				continue
			case '?':
				_, n := utf8.DecodeRuneInString(s[i:])
				p, i = p+1, i+n
				continue
			default:
				if pattern[p] == s[i] {
					p, i = p+1, i+1
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starI:])
		starI += n
		p, i = starP+1, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
