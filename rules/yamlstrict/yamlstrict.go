// Package yamlstrict decodes YAML documents strictly, reporting every problem at once.
//
// yaml.v3's KnownFields stops at the first unknown key; configuration authors want
// all of them, each with the line and column of the offending key or value. A
// Decoder walks yaml.v3 Nodes, collects errors instead of stopping, and leaves the
// decoding of each value to small typed helpers.
//
// Pure: no I/O and no clock.
package yamlstrict

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Error is one problem at a position in a document (1-based line and column).
type Error struct {
	Line int
	Col  int
	Msg  string
}

// Error prints LINE:COL: message.
func (e Error) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

// Errors is every problem found in a document, in position order.
type Errors []Error

// Error prints one error per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// maxAliases bounds how many alias references a Decoder follows, so that a document
// built to expand exponentially ("billion laughs") cannot exhaust memory or time.
const maxAliases = 1000

// Decoder collects errors while callers walk a document. The zero value is ready.
type Decoder struct {
	errs    Errors
	aliases int
}

// Errorf records an error at n's position.
func (d *Decoder) Errorf(n *yaml.Node, format string, args ...any) {
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, n.Column
	}
	d.ErrorAt(line, col, format, args...)
}

// ErrorAt records an error at a line and column.
func (d *Decoder) ErrorAt(line, col int, format string, args ...any) {
	d.errs = append(d.errs, Error{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

// Len returns how many errors have been recorded.
func (d *Decoder) Len() int { return len(d.errs) }

// Err returns the recorded errors sorted by position (stable for equal positions),
// or nil when there are none.
func (d *Decoder) Err() error {
	if len(d.errs) == 0 {
		return nil
	}
	out := make(Errors, len(d.errs))
	copy(out, d.errs)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Col < out[j].Col
	})
	return out
}

// Errors returns the recorded errors sorted by position.
func (d *Decoder) Errors() Errors {
	err := d.Err()
	if err == nil {
		return nil
	}
	return err.(Errors)
}

var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse parses data as a single YAML document and returns its root node (the content
// of the document node), or nil for an empty document. A syntax error is returned
// as an Error with the line yaml.v3 reports (column 1: yaml.v3 does not report one).
func Parse(data []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil { // yaml.v3 must never take the daemon down
			root, err = nil, Error{Line: 1, Col: 1, Msg: fmt.Sprintf("YAML parser failed: %v", r)}
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxError(err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

func syntaxError(err error) Error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := syntaxLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Error{Line: line, Col: 1, Msg: "YAML syntax error: " + m[2]}
	}
	return Error{Line: 1, Col: 1, Msg: "YAML syntax error: " + strings.TrimPrefix(msg, "yaml: ")}
}

// Resolve follows aliases and returns the node they point at. It returns nil (after
// recording an error) when the document uses too many aliases.
func (d *Decoder) Resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		d.aliases++
		if d.aliases > maxAliases {
			if d.aliases == maxAliases+1 {
				d.Errorf(n, "too many YAML aliases (more than %d)", maxAliases)
			}
			return nil
		}
		n = n.Alias
	}
	return n
}

// IsNull reports whether n is absent or an explicit null (~, null, or nothing).
func IsNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unsupported YAML node"
}

// Field decodes the value of one key of a mapping.
type Field func(value *yaml.Node)

// Fields maps the keys a mapping may hold to their decoders.
type Fields map[string]Field

// Mapping walks the mapping n, calling the Field for each known key in document
// order. Unknown and duplicate keys are errors at the key. It returns the key nodes
// seen, by name, so callers can check required keys with Require. A null n is an
// empty mapping; any other non-mapping is an error naming what (e.g. "zone").
func (d *Decoder) Mapping(n *yaml.Node, what string, fields Fields) map[string]*yaml.Node {
	seen := map[string]*yaml.Node{}
	n = d.Resolve(n)
	if IsNull(n) {
		return seen
	}
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "%s: expected a mapping of keys, got %s", what, kindName(n))
		return seen
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.Errorf(k, "%s: keys must be plain names", what)
			continue
		}
		if k.Value == "<<" {
			d.Errorf(k, "%s: YAML merge keys (<<) are not supported; repeat the keys", what)
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			d.Errorf(k, "%s: duplicate key %q (first at line %d)", what, k.Value, prev.Line)
			continue
		}
		f, ok := fields[k.Value]
		if !ok {
			d.Errorf(k, "%s: unknown key %q%s", what, k.Value, suggest(k.Value, fields))
			continue
		}
		seen[k.Value] = k
		f(v)
	}
	return seen
}

// Require records an error at the mapping n for each key in keys that is not in
// seen (as returned by Mapping).
func (d *Decoder) Require(n *yaml.Node, seen map[string]*yaml.Node, what string, keys ...string) {
	n = d.Resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return // already reported by Mapping, or absent and reported by the caller
	}
	for _, k := range keys {
		if _, ok := seen[k]; !ok {
			d.Errorf(n, "%s: missing required key %q", what, k)
		}
	}
}

func suggest(key string, fields Fields) string {
	best, bestD := "", 3
	for f := range fields {
		if dist := editDistance(key, f); dist < bestD || (dist == bestD && f < best) {
			best, bestD = f, dist
		}
	}
	if best == "" || bestD > 2 || bestD >= len(key) {
		names := make([]string, 0, len(fields))
		for f := range fields {
			names = append(names, f)
		}
		sort.Strings(names)
		return " (known keys: " + strings.Join(names, ", ") + ")"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Seq calls item for each element of the list n. A null n is an empty list; any
// other non-list is an error naming what.
func (d *Decoder) Seq(n *yaml.Node, what string, item func(*yaml.Node)) {
	n = d.Resolve(n)
	if IsNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, "%s: expected a list, got %s", what, kindName(n))
		return
	}
	for _, it := range n.Content {
		if it = d.Resolve(it); it != nil {
			item(it)
		}
	}
}

// Scalar returns the resolved scalar n and true, or records an error naming what and
// returns false. A null is not a scalar here.
func (d *Decoder) Scalar(n *yaml.Node, what string) (*yaml.Node, bool) {
	n = d.Resolve(n)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.Errorf(n, "%s: expected a value, got %s", what, kindName(n))
		return nil, false
	}
	return n, true
}

// String returns the text of the scalar n; an error (and "") for a list, mapping or null.
func (d *Decoder) String(n *yaml.Node, what string) string {
	s, ok := d.Scalar(n, what)
	if !ok {
		return ""
	}
	return s.Value
}

// Strings returns the texts of the list of scalars n.
func (d *Decoder) Strings(n *yaml.Node, what string) []string {
	var out []string
	d.Seq(n, what, func(it *yaml.Node) {
		if s, ok := d.Scalar(it, what); ok {
			out = append(out, s.Value)
		}
	})
	return out
}

// Bool decodes true or false.
func (d *Decoder) Bool(n *yaml.Node, what string) (bool, bool) {
	s, ok := d.Scalar(n, what)
	if !ok {
		return false, false
	}
	switch s.Value {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	d.Errorf(s, "%s: expected true or false, got %q", what, s.Value)
	return false, false
}

// Duration decodes a Go duration ("90s", "10m", "1h30m") or a number of days with a
// "d" suffix, optionally followed by a Go duration ("90d", "1d12h"). Negative
// durations are errors.
func (d *Decoder) Duration(n *yaml.Node, what string) (time.Duration, bool) {
	s, ok := d.Scalar(n, what)
	if !ok {
		return 0, false
	}
	v, err := ParseDuration(s.Value)
	if err != nil {
		d.Errorf(s, "%s: %v", what, err)
		return 0, false
	}
	if v < 0 {
		d.Errorf(s, "%s: must not be negative, got %q", what, s.Value)
		return 0, false
	}
	return v, true
}

// ParseDuration parses a Go duration, or days with a "d" suffix optionally followed
// by a Go duration: "90d", "1d12h", "10m".
func ParseDuration(s string) (time.Duration, error) {
	if i := strings.IndexByte(s, 'd'); i > 0 {
		days, err := strconv.ParseUint(s[:i], 10, 16)
		if err != nil || days > 36500 {
			return 0, fmt.Errorf("invalid duration %q (use e.g. 90s, 10m, 12h, 90d)", s)
		}
		d := time.Duration(days) * 24 * time.Hour
		if rest := s[i+1:]; rest != "" {
			r, err := time.ParseDuration(rest)
			if err != nil || r < 0 {
				return 0, fmt.Errorf("invalid duration %q (use e.g. 90s, 10m, 12h, 90d)", s)
			}
			d += r
		}
		return d, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 90s, 10m, 12h, 90d)", s)
	}
	return v, nil
}
