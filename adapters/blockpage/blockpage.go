// Package blockpage serves the page a blocked device's web requests reach on a
// pupil VLAN: which policy clause applies, and that the network is monitored for
// safeguarding (OSS-3). The DNS guard answers a blocked device's lookups with this
// server's address; the firewall lets the device reach the gateway.
//
// It names no device and no person: whoever holds the device sees only the rule
// and the clause, in the school's words.
package blockpage

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/rules/policy"
)

//go:embed page.html
var files embed.FS

var page = template.Must(template.ParseFS(files, "page.html"))

// Decision tells the server why a client is blocked; ok is false when it is not
// (or is unknown): the page then says only that the network is monitored.
type Decision func(client netip.Addr) (d policy.Decision, ok bool)

// Options configure the server.
type Options struct {
	Listen   []string // "10.30.0.1:80": the gateway's address on the pupil VLAN (no wildcard)
	School   string
	Contact  string // who to ask, e.g. "the school office"
	Decision Decision
	// Clauses gives a clause ID's one-line text for the page (optional).
	Clauses map[string]string
	Logger  *zap.Logger
}

// Server serves the block page.
type Server struct {
	o   Options
	lns []net.Listener
}

// New binds the listeners.
func New(o Options) (*Server, error) {
	if len(o.Listen) == 0 {
		return nil, errors.New("blockpage: no listen address")
	}
	if o.Decision == nil {
		return nil, errors.New("blockpage: no decision source")
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	s := &Server{o: o}
	for _, a := range o.Listen {
		ap, err := netip.ParseAddrPort(a)
		if err != nil || ap.Addr().IsUnspecified() {
			s.close()
			return nil, fmt.Errorf("blockpage: listen %q: want a specific ADDRESS:PORT", a)
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("blockpage: %w", err)
		}
		s.lns = append(s.lns, ln)
	}
	return s, nil
}

func (s *Server) close() {
	for _, ln := range s.lns {
		_ = ln.Close()
	}
}

// Addrs returns the bound addresses.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, 0, len(s.lns))
	for _, ln := range s.lns {
		out = append(out, ln.Addr())
	}
	return out
}

type view struct {
	School, Contact, Rule, Reason string
	Clauses                       []clause
	Blocked                       bool
}

type clause struct{ ID, Text string }

// ServeHTTP answers every path with the block page (browsers probe many URLs).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v := view{School: s.o.School, Contact: s.o.Contact}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		if d, ok := s.o.Decision(ap.Addr().Unmap()); ok && d.Action == policy.ActionBlock {
			v.Blocked, v.Rule, v.Reason = true, d.Rule, d.Reason
			for _, id := range d.Clauses {
				v.Clauses = append(v.Clauses, clause{ID: id, Text: s.o.Clauses[id]})
			}
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	h.Set("X-Content-Type-Options", "nosniff")
	// 403 for page loads; captive-portal probes also see "not the internet".
	w.WriteHeader(http.StatusForbidden)
	if r.Method == http.MethodHead {
		return
	}
	if err := page.Execute(w, v); err != nil {
		s.o.Logger.Debug("block page write", zap.Error(err))
	}
}

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
	errc := make(chan error, len(s.lns))
	for _, ln := range s.lns {
		go func() { errc <- srv.Serve(ln) }() // owned by srv: Shutdown ends every Serve
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("blockpage: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil && !strings.Contains(err.Error(), "closed") {
		return fmt.Errorf("blockpage: shutdown: %w", err)
	}
	return nil
}
