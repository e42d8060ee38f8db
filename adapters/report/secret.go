package report

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SecretFile is the pseudonym secret's file name in the data directory.
const SecretFile = "report-pseudonym.key"

const secretBytes = 32

// LoadOrCreateSecret returns the site's pseudonym secret from dir/SecretFile,
// creating it (32 random bytes, hex, mode 0600) on first use. A file that others
// can read is refused: whoever holds the secret can link pseudonyms to MACs.
func LoadOrCreateSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, SecretFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		key := make([]byte, secretBytes)
		if _, err := rand.Read(key); err != nil {
			f.Close()
			os.Remove(path)
			return nil, fmt.Errorf("pseudonym secret: %w", err)
		}
		_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
		if serr := f.Sync(); werr == nil {
			werr = serr
		}
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, fmt.Errorf("pseudonym secret %s: %w", path, werr)
		}
		return key, nil
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("pseudonym secret: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("pseudonym secret: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("pseudonym secret %s: mode %v lets others read it; chmod 600 it", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pseudonym secret: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("pseudonym secret %s: not a hex key of at least 16 bytes", path)
	}
	return key, nil
}
