package yamlstrict_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hallmonitor/hallmonitor/rules/yamlstrict"
)

func TestMappingReportsEveryProblem(t *testing.T) {
	doc := `name: a
colour: red
name: b
size: [1]
nested: {x: 1}
`
	root, err := yamlstrict.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var d yamlstrict.Decoder
	var name string
	var size int
	seen := d.Mapping(root, "thing", yamlstrict.Fields{
		"name":   func(v *yaml.Node) { name = d.String(v, "thing name") },
		"size":   func(v *yaml.Node) { size = len(d.String(v, "thing size")) },
		"color":  func(v *yaml.Node) {},
		"nested": func(v *yaml.Node) { d.Mapping(v, "nested", yamlstrict.Fields{"y": func(*yaml.Node) {}}) },
	})
	d.Require(root, seen, "thing", "name", "color", "weight")
	want := []string{
		`1:1: thing: missing required key "color"`,
		`1:1: thing: missing required key "weight"`,
		`2:1: thing: unknown key "colour" (did you mean "color"?)`,
		`3:1: thing: duplicate key "name" (first at line 1)`,
		`4:7: thing size: expected a value, got a list`,
		`5:10: nested: unknown key "x" (known keys: y)`,
	}
	if got := d.Errors().Error(); got != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if name != "a" || size != 0 {
		t.Errorf("decoded name=%q size=%d", name, size)
	}
}

func TestAliasBombIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ {
		b.WriteString("a" + string(rune('a'+i)) + ": &a" + string(rune('a'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			if i == 1 {
				b.WriteString("*a0")
			} else {
				b.WriteString("*a" + string(rune('a'+i-1)))
			}
		}
		b.WriteString("]\n")
	}
	root, err := yamlstrict.Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	var d yamlstrict.Decoder
	var count int
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		count++
		d.Seq(n, "list", func(it *yaml.Node) { walk(it) })
	}
	start := time.Now()
	for i := 1; i < len(root.Content); i += 2 {
		walk(root.Content[i])
	}
	if time.Since(start) > 5*time.Second || count > 100000 {
		t.Fatalf("walked %d nodes in %s: aliases are not bounded", count, time.Since(start))
	}
	if !strings.Contains(d.Errors().Error(), "too many YAML aliases") {
		t.Errorf("no alias error: %v", d.Errors())
	}
}

func TestParseSyntaxErrorHasLine(t *testing.T) {
	_, err := yamlstrict.Parse([]byte("a: 1\n b: 2\n"))
	var e yamlstrict.Error
	if !errors.As(err, &e) || e.Line != 2 || !strings.HasPrefix(e.Msg, "YAML syntax error: ") {
		t.Errorf("err = %#v", err)
	}
	root, err := yamlstrict.Parse([]byte("# only a comment\n"))
	if root != nil || err != nil {
		t.Errorf("empty document: root=%v err=%v", root, err)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"10m", 10 * time.Minute, true},
		{"12h", 12 * time.Hour, true},
		{"90d", 90 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"0s", 0, true},
		{"d", 0, false},
		{"-1d", 0, false},
		{"1.5d", 0, false},
		{"1d-1h", 0, false},
		{"ten minutes", 0, false},
		{"10", 0, false},
	}
	for _, tc := range tests {
		got, err := yamlstrict.ParseDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"10m", "90d", "1d12h", "-5s", "99999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := yamlstrict.ParseDuration(s)
		if err == nil && strings.Contains(s, "d") && d < 0 {
			t.Errorf("ParseDuration(%q) = %v: days must not overflow negative", s, d)
		}
	})
}
