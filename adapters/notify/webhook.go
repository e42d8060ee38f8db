package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// SignatureHeader carries hex(HMAC-SHA256(secret, body)) as "sha256=<hex>" when a
// webhook has a Secret, so the receiver can check the message came from here.
const SignatureHeader = "X-HallMonitor-Signature"

// Webhook POSTs a generic JSON document (WebhookBody) to a URL.
type Webhook struct {
	ChannelName   string // default "webhook"
	URL           string
	Headers       map[string]string // e.g. Authorization
	Secret        string            // signs the body (SignatureHeader)
	IncludeDevice bool              // device MAC and host name in the JSON
	Client        *http.Client      // nil: 15 s timeout
}

// WebhookBody is the generic webhook's JSON: the alert as the API returns it
// (GET /api/v1/alerts), the site, and a link.
type WebhookBody struct {
	Type    string         `json:"type"` // alert.opened | alert.escalated
	Site    WebhookSite    `json:"site"`
	Alert   daemon.Alert   `json:"alert"`
	Link    string         `json:"link,omitempty"`
	Grouped int            `json:"grouped"`          // devices covered, 1 for a single alert
	Alerts  []daemon.Alert `json:"alerts,omitempty"` // every alert of a group (Grouped > 1)
}

// WebhookSite identifies the school.
type WebhookSite struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Name returns the channel's name.
func (w *Webhook) Name() string { return nameOr(w.ChannelName, "webhook") }

// Send POSTs the notification.
func (w *Webhook) Send(ctx context.Context, n Notification) error {
	if !w.IncludeDevice {
		n = n.withoutDevice()
	}
	body := WebhookBody{
		Type:    "alert.opened",
		Site:    WebhookSite{ID: n.Alert.SiteID, Name: n.SiteName},
		Alert:   n.Alert,
		Link:    n.Link(n.Alert.ID),
		Grouped: n.count(),
	}
	if n.Escalation {
		body.Type = "alert.escalated"
	}
	if n.count() > 1 {
		body.Alerts = n.members()
	}
	return errorf(w.Name(), postJSON(ctx, w.Client, w.URL, w.Headers, w.Secret, body))
}

// Teams posts an Adaptive Card to a Microsoft Teams workflow ("When a Teams
// webhook request is received") or incoming-webhook URL.
type Teams struct {
	ChannelName   string // default "teams"
	URL           string
	IncludeDevice bool
	Client        *http.Client
}

// Name returns the channel's name.
func (t *Teams) Name() string { return nameOr(t.ChannelName, "teams") }

// Send posts the card.
func (t *Teams) Send(ctx context.Context, n Notification) error {
	if !t.IncludeDevice {
		n = n.withoutDevice()
	}
	return errorf(t.Name(), postJSON(ctx, t.Client, t.URL, nil, "", TeamsCard(n)))
}

// TeamsCard returns the Teams message: one Adaptive Card (1.4) attachment with
// the subject as title, the reason, a fact set (severity, rule, clauses, zone,
// devices, opened) and an "Open in HallMonitor" action.
func TeamsCard(n Notification) map[string]any {
	a := n.Alert
	facts := []map[string]string{
		{"title": "Severity", "value": a.Severity},
		{"title": "Rule", "value": a.Rule},
		{"title": "Clauses", "value": strings.Join(a.Clauses, ", ")},
		{"title": "Zone", "value": a.Zone},
		{"title": "Opened", "value": n.local(a.OpenedAt)},
	}
	for i, m := range n.members() {
		title := "Device"
		if n.count() > 1 {
			title = fmt.Sprintf("Device %d", i+1)
		}
		v := deviceLine(m.Device)
		if m.Device.MAC != "" {
			v += " " + m.Device.MAC
		}
		if m.Device.Hostname != "" {
			v += " " + m.Device.Hostname
		}
		facts = append(facts, map[string]string{"title": title, "value": v})
	}
	if n.SiteName != "" {
		facts = append(facts, map[string]string{"title": "Site", "value": n.SiteName})
	}
	color := "Warning"
	if a.Severity == "high" || a.Severity == "critical" || n.Escalation {
		color = "Attention"
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body": []any{
			map[string]any{"type": "TextBlock", "text": n.Subject(), "weight": "Bolder", "size": "Medium", "color": color, "wrap": true},
			map[string]any{"type": "TextBlock", "text": a.Reason, "wrap": true},
			map[string]any{"type": "FactSet", "facts": facts},
		},
	}
	if link := n.Link(a.ID); link != "" {
		card["actions"] = []any{map[string]any{"type": "Action.OpenUrl", "title": "Open in HallMonitor", "url": link}}
	}
	return map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	}
}

// Slack posts to a Slack incoming webhook.
type Slack struct {
	ChannelName   string // default "slack"
	URL           string
	IncludeDevice bool
	Client        *http.Client
}

// Name returns the channel's name.
func (s *Slack) Name() string { return nameOr(s.ChannelName, "slack") }

// Send posts the message.
func (s *Slack) Send(ctx context.Context, n Notification) error {
	if !s.IncludeDevice {
		n = n.withoutDevice()
	}
	return errorf(s.Name(), postJSON(ctx, s.Client, s.URL, nil, "", SlackMessage(n)))
}

// SlackMessage returns the incoming-webhook JSON: "text" (the subject, shown in
// notifications) and blocks: a header, the reason, the facts, the device(s) and
// a link button.
func SlackMessage(n Notification) map[string]any {
	a := n.Alert
	esc := func(s string) string { // Slack mrkdwn control characters
		return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
	}
	var devices []string
	for _, m := range n.members() {
		d := esc(deviceLine(m.Device))
		if m.Device.MAC != "" {
			d += " `" + esc(m.Device.MAC) + "`"
		}
		if m.Device.Hostname != "" {
			d += " " + esc(m.Device.Hostname)
		}
		devices = append(devices, "• "+d+", opened "+esc(n.local(m.OpenedAt)))
	}
	field := func(k, v string) map[string]any {
		return map[string]any{"type": "mrkdwn", "text": "*" + k + "*\n" + esc(v)}
	}
	blocks := []any{
		map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": truncate(n.Subject(), 150)}},
		map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": esc(a.Reason)}},
		map[string]any{"type": "section", "fields": []any{
			field("Severity", a.Severity), field("Rule", a.Rule),
			field("Clauses", strings.Join(a.Clauses, ", ")), field("Zone", a.Zone),
		}},
		map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": truncate(strings.Join(devices, "\n"), 3000)}},
	}
	if link := n.Link(a.ID); link != "" {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": []any{map[string]any{
			"type": "button", "text": map[string]any{"type": "plain_text", "text": "Open in HallMonitor"}, "url": link,
		}}})
	}
	return map[string]any{"text": n.Subject(), "blocks": blocks}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func nameOr(name, def string) string {
	if name != "" {
		return name
	}
	return def
}

var defaultHTTPClient = &http.Client{Timeout: 15 * time.Second}

// postJSON POSTs v as JSON and wants a 2xx. Errors name the URL's scheme and
// host only: Slack and Teams webhook URLs carry their secret in the path.
func postJSON(ctx context.Context, client *http.Client, rawURL string, headers map[string]string, secret string, v any) error {
	if rawURL == "" {
		return fmt.Errorf("%w: url is required", ErrNotConfigured)
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%w: url must be http(s)://host/...", ErrNotConfigured)
	}
	where := u.Scheme + "://" + u.Host
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("POST %s: %w", where, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "HallMonitor")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if secret != "" {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		req.Header.Set(SignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	if client == nil {
		client = defaultHTTPClient
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL and its secret
		}
		return fmt.Errorf("POST %s: %w", where, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("POST %s: %s", where, resp.Status)
	}
	return nil
}
