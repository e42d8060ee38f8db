package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An admin points the config at the school's Intune export and a satori database:
// registered devices become managed, bad rows are warnings naming FILE:LINE, and
// the external fingerprints join the classifier.
func TestRegisterImportAndExternalFingerprints(t *testing.T) {
	dir := t.TempDir()
	intune, err := filepath.Abs("../../rules/register/testdata/intune-devices.csv")
	if err != nil {
		t.Fatal(err)
	}
	satori, err := filepath.Abs("../../../shared/reference/fingerprints/satori/dhcp.xml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(satori); err != nil {
		t.Skipf("reference satori file not present: %v", err)
	}
	example, err := os.ReadFile("../../deploy/examples/hallmonitor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfgText := string(example) + "\nregister_import: [" + intune + "]\nfingerprints:\n  external: [" + satori + "]\n"
	path := filepath.Join(dir, "hallmonitor.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if c.Imported() == 0 {
		t.Fatal("no register entries imported from the Intune export")
	}
	managed := 0
	for _, e := range c.Policy.RegisterEntries() {
		if e.Managed {
			managed++
		}
	}
	if managed < c.Imported() {
		t.Errorf("%d managed register entries, want at least the %d imported", managed, c.Imported())
	}
	if c.Location.Dwell != 60*time.Second || c.Location.APFresh != DefaultAPFresh {
		t.Errorf("location = %+v", c.Location)
	}
	if c.Fingerprints == nil {
		t.Fatal("no fingerprint engine")
	}

	// A file that is not a register export is refused with its position.
	bad := filepath.Join(dir, "notes.csv")
	if err := os.WriteFile(bad, []byte("a,b\n1,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgText = string(example) + "\nregister_import: [" + bad + "]\n"
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	if err == nil || !strings.Contains(err.Error(), path+":") || !strings.Contains(err.Error(), "not an Intune, Jamf or Google Admin export") {
		t.Fatalf("err = %v, want a positioned refusal of the unknown export", err)
	}
}
