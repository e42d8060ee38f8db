package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateSecret(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		wantErr string
	}{
		{"created on first use", func(*testing.T, string) {}, ""},
		{"readable by others: refused", func(t *testing.T, dir string) {
			writeSecret(t, dir, strings.Repeat("ab", 32), 0o644)
		}, "lets others read it"},
		{"not hex: refused", func(t *testing.T, dir string) {
			writeSecret(t, dir, "not a key", 0o600)
		}, "not a hex key"},
		{"too short: refused", func(t *testing.T, dir string) {
			writeSecret(t, dir, "abcd", 0o600)
		}, "not a hex key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.prepare(t, dir)
			key, err := LoadOrCreateSecret(dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(key) != 32 {
				t.Errorf("key of %d bytes", len(key))
			}
			st, err := os.Stat(filepath.Join(dir, SecretFile))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("secret file %v %v, want mode 0600", st, err)
			}
			again, err := LoadOrCreateSecret(dir)
			if err != nil || !bytes.Equal(again, key) {
				t.Errorf("second load gave another key (%v): pseudonyms would change from day to day", err)
			}
		})
	}
}

func writeSecret(t *testing.T, dir, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, SecretFile)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}
