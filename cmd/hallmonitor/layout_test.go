package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/hallmonitor/hallmonitor"

type goPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func under(path, dir string) bool {
	p := module + "/" + dir
	return path == p || strings.HasPrefix(path, p+"/")
}

// The architecture's one-way data flow: rules/ are pure, daemon/ never reaches
// the world through adapters/, and only cmd/ wires adapters into the daemon.
func TestImportDirection(t *testing.T) {
	// Packages that do I/O or read the world; rules/ must not import them.
	ioPackages := []string{"os", "os/exec", "os/signal", "net", "net/http", "io/ioutil", "io/fs",
		"database/sql", "syscall", "golang.org/x/sys/unix", "embed", "log", "runtime/pprof"}
	for _, p := range listPackages(t) {
		switch {
		case under(p.ImportPath, "rules"):
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, module+"/") && !under(imp, "rules") {
					t.Errorf("%s imports %s: rules/ may import only other rules/ packages", p.ImportPath, imp)
				}
				if slices.Contains(ioPackages, imp) {
					t.Errorf("%s imports %s: rules/ does no I/O", p.ImportPath, imp)
				}
			}
			for _, f := range p.GoFiles {
				src, err := os.ReadFile(filepath.Join(p.Dir, f))
				if err != nil {
					t.Fatal(err)
				}
				if regexp.MustCompile(`\btime\.(Now|Since|Until|Sleep|After|Tick|NewTimer|NewTicker)\(`).Match(src) {
					t.Errorf("%s/%s reads the clock: rules/ take time as an argument", p.ImportPath, f)
				}
			}
		case under(p.ImportPath, "daemon"), under(p.ImportPath, "dashboard"):
			for _, dep := range p.Deps {
				if under(dep, "adapters") || under(dep, "cmd") {
					t.Errorf("%s depends on %s: only cmd/ wires adapters into the daemon", p.ImportPath, dep)
				}
			}
		case under(p.ImportPath, "adapters"):
			for _, imp := range p.Imports {
				if under(imp, "cmd") || under(imp, "dashboard") {
					t.Errorf("%s imports %s: adapters talk to the world, not to the UI or the CLI", p.ImportPath, imp)
				}
			}
		}
	}
}

func TestTopLevelLayout(t *testing.T) {
	allowed := []string{"cmd", "daemon", "rules", "adapters", "dashboard", "deploy", "systemd",
		"go.mod", "go.sum", "README.md", "Makefile", "LICENSE", ".ci", "docs", ".git", ".gitignore"}
	cmd := exec.Command("git", "ls-files")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		top, _, _ := strings.Cut(f, "/")
		if !slices.Contains(allowed, top) {
			t.Errorf("%s is outside the agreed top level (%v)", f, allowed)
		}
	}
}
