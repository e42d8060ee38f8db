package notify

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// Attachment is a file attached to a Mail.
type Attachment struct {
	Name        string // file name shown to the recipient
	ContentType string // e.g. application/pdf
	Data        []byte
}

// Mail is an e-mail with attachments (a report), sent through an SMTP channel's
// server, credentials and sender to its own recipients.
type Mail struct {
	To      []string
	Subject string
	Text    string // the plain-text body
	// MessageID (without <>) should be stable for one report, so a copy sent again
	// after a crash between the server's acceptance and its record can be spotted.
	MessageID   string
	Attachments []Attachment
}

// SendMail sends m through s's server as s.From to m.To (not s.To). It returns
// nil once the server has accepted the message.
func (s *SMTP) SendMail(ctx context.Context, m Mail) error {
	c := *s
	c.To = m.To
	if err := c.Validate(); err != nil {
		return err
	}
	msg, err := c.mailMessage(m, time.Now())
	if err != nil {
		return errorf(s.Name(), err)
	}
	return errorf(s.Name(), c.send(ctx, msg))
}

// mailMessage builds a multipart/mixed RFC 5322 message: the text as
// quoted-printable UTF-8, each attachment base64.
func (s *SMTP) mailMessage(m Mail, now time.Time) ([]byte, error) {
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	var tos []string
	for _, t := range m.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("to: %w", err)
		}
		tos = append(tos, a.String())
	}
	if len(tos) == 0 {
		return nil, errors.New("no recipients")
	}
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", from.String())
	hdr("To", strings.Join(tos, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Subject)))
	hdr("Date", now.Format(time.RFC1123Z))
	if m.MessageID != "" {
		domain := "hallmonitor.invalid"
		if _, d, ok := strings.Cut(from.Address, "@"); ok && d != "" {
			domain = d
		}
		hdr("Message-ID", "<"+oneLine(m.MessageID)+"@"+oneLine(domain)+">")
	}
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mw.Boundary()}))
	hdr("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")

	text, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {`text/plain; charset="utf-8"`},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		return nil, err
	}
	qp := quotedprintable.NewWriter(text)
	if _, err := qp.Write([]byte(strings.ReplaceAll(m.Text, "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	for _, a := range m.Attachments {
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		name := oneLine(a.Name)
		part, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {mime.FormatMediaType(ct, map[string]string{"name": name})},
			"Content-Transfer-Encoding": {"base64"},
			"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": name})},
		})
		if err != nil {
			return nil, err
		}
		enc := base64.StdEncoding.EncodeToString(a.Data)
		for len(enc) > 76 {
			if _, err := fmt.Fprintf(part, "%s\r\n", enc[:76]); err != nil {
				return nil, err
			}
			enc = enc[76:]
		}
		if _, err := fmt.Fprintf(part, "%s\r\n", enc); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
