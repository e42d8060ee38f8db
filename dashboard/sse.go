package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// writeTimeout bounds each write to an event stream, so that a client that stopped
// reading cannot hold its handler (and its subscription) forever.
const writeTimeout = 10 * time.Second

// frameEvent encodes one daemon.Event as a server-sent event:
// "event: <Type>\ndata: <json>\n\n".
func frameEvent(ev daemon.Event) ([]byte, error) {
	if ev.Alert != nil {
		a := apiAlert(*ev.Alert)
		ev.Alert = &a
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", ev.Type, err)
	}
	typ := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, ev.Type)
	var b bytes.Buffer
	b.Grow(len(typ) + len(data) + 16)
	b.WriteString("event: ")
	b.WriteString(typ)
	b.WriteString("\ndata: ")
	b.Write(data) // json.Marshal never emits a raw newline
	b.WriteString("\n\n")
	return b.Bytes(), nil
}

// handleEvents streams live events until the client goes, the request ends, the
// daemon closes the subscription or the Server is closed.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request, p principal) {
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		w.Header().Set("Retry-After", "30")
		http.Error(w, "too many live connections", http.StatusServiceUnavailable)
		return
	}
	if s.ctx.Err() != nil {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}

	rc := http.NewResponseController(w)
	// Leave no per-write deadline behind on a connection the server may reuse.
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	events, cancel := s.live.Subscribe()
	defer cancel()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	write := func(b []byte) error {
		// Not every ResponseWriter supports deadlines (httptest's recorder does not).
		if err := rc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return fmt.Errorf("set write deadline: %w", err)
		}
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("write event: %w", err)
		}
		if err := rc.Flush(); err != nil {
			return fmt.Errorf("flush event: %w", err)
		}
		return nil
	}
	// retry: how long the browser waits before reconnecting after a drop.
	if err := write([]byte("retry: 3000\n: connected\n\n")); err != nil {
		s.log.Debug("event stream ended", zap.String("user", p.Name), zap.Error(err))
		return
	}
	s.log.Debug("event stream opened", zap.String("user", p.Name))

	tick := time.NewTicker(s.heartbeat)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.Alert != nil {
				a := s.maskAlert(p, *ev.Alert)
				ev.Alert = &a
			}
			if ev.MAC != "" && !can(p.Role, capIdentifiers) {
				ev.MAC = s.pseudo(ev.MAC)
			}
			b, ferr := frameEvent(ev)
			if ferr != nil {
				s.log.Error("drop live event", zap.Error(ferr))
				continue
			}
			err = write(b)
		case <-tick.C:
			// A session that was logged out or expired, or a revoked token, stops
			// receiving events at the next heartbeat.
			if !s.stillValid(r, p) {
				s.log.Debug("event stream ended: credentials no longer valid", zap.String("user", p.Name))
				return
			}
			err = write([]byte(": heartbeat\n\n"))
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.log.Debug("event stream ended", zap.String("user", p.Name), zap.Error(err))
			}
			return
		}
	}
}

// stillValid re-checks the credentials a stream was opened with.
func (s *Server) stillValid(r *http.Request, p principal) bool {
	if p.Token {
		_, _, err := s.fromBearer(r)
		return err == nil
	}
	_, err := s.fromSession(r)
	return err == nil
}
