package notify_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"slices"
	"strings"
	"testing"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
	"github.com/hallmonitor/hallmonitor/adapters/notify"
)

// A report e-mail goes over STARTTLS with AUTH to the mail's own recipients (not
// the channel's), and each attachment arrives byte for byte.
func TestSendMailWithAttachments(t *testing.T) {
	cert, pool := lab.SelfSigned(t)
	srv := lab.StartSMTP(t, cert, lab.SMTPOptions{STARTTLS: true, User: "hm", Pass: "s3cret"})
	c := &notify.SMTP{Host: "127.0.0.1", Port: srv.Port(), Username: "hm", Password: "s3cret",
		From: "HallMonitor <hallmonitor@school.example>", To: []string{"dsl@school.example"},
		TLSConfig: &tls.Config{RootCAs: pool}}
	pdf := append([]byte("%PDF-1.3\n"), bytes.Repeat([]byte{0, 1, 2, 0xff}, 100)...)
	err := c.SendMail(context.Background(), notify.Mail{
		To: []string{"slt@school.example"}, Subject: "Device compliance — 2026-11-23", Text: "Attached.\n",
		MessageID: "daily-2026-11-23.report",
		Attachments: []notify.Attachment{
			{Name: "compliance-2026-11-23.pdf", ContentType: "application/pdf", Data: pdf},
			{Name: "compliance-2026-11-23.html", ContentType: "text/html; charset=utf-8", Data: []byte("<p>hi</p>")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || !msgs[0].TLS || msgs[0].User != "hm" || !slices.Equal(msgs[0].To, []string{"slt@school.example"}) {
		t.Fatalf("server got %+v", msgs)
	}
	m, err := mail.ReadMessage(strings.NewReader(msgs[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if subj, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); subj != "Device compliance — 2026-11-23" {
		t.Errorf("subject %q", subj)
	}
	if id := m.Header.Get("Message-ID"); id != "<daily-2026-11-23.report@school.example>" {
		t.Errorf("Message-ID %q", id)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q: %v", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	files := map[string][]byte{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.FileName() == "" {
			continue
		}
		data, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
		if err != nil {
			t.Fatal(err)
		}
		files[p.FileName()] = data
	}
	if !bytes.Equal(files["compliance-2026-11-23.pdf"], pdf) || string(files["compliance-2026-11-23.html"]) != "<p>hi</p>" {
		t.Errorf("attachments: %d files, pdf intact %v", len(files), bytes.Equal(files["compliance-2026-11-23.pdf"], pdf))
	}
}
