// Package systemd holds HallMonitor's hardened systemd unit (hallmonitor.service)
// and the tests that keep it hardened. It has no runtime code.
package systemd

import "os"

// readUnit returns a file beside this package (the unit), for the tests.
func readUnit(name string) (string, error) {
	b, err := os.ReadFile(name)
	return string(b), err
}
