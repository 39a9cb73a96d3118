package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	pb "github.com/secarc/secarc/gen/go/secarc/v1"
)

func TestParseSSHLogin(t *testing.T) {
	cases := []struct {
		name, line string
		ok         bool
		want       sshLogin
	}{
		{"publickey", "Dec  1 10:00:00 web-1 sshd[4242]: Accepted publickey for alice from 192.0.2.10 port 50022 ssh2: ED25519 SHA256:abc", true, sshLogin{4242, "publickey", "alice", "192.0.2.10", 50022}},
		{"password ipv6", "Dec  1 10:00:00 web-1 sshd[7]: Accepted password for bob from 2001:db8::1 port 2222 ssh2", true, sshLogin{7, "password", "bob", "2001:db8::1", 2222}},
		{"forged address in the user name", "Dec  1 10:00:00 web-1 sshd[9]: Accepted password for x from 10.0.0.1 port 1 ssh2 from 198.51.100.4 port 40000 ssh2", true, sshLogin{9, "password", "x from 10.0.0.1 port 1 ssh2", "198.51.100.4", 40000}},
		{"failure", "Dec  1 10:00:00 web-1 sshd[9]: Failed password for root from 198.51.100.4 port 40000 ssh2", false, sshLogin{}},
		{"not an address", "Dec  1 10:00:00 web-1 sshd[9]: Accepted password for root from evil.example port 40000 ssh2", false, sshLogin{}},
		{"port out of range", "Dec  1 10:00:00 web-1 sshd[9]: Accepted password for root from 192.0.2.1 port 70000 ssh2", false, sshLogin{}},
	}
	for _, c := range cases {
		got, ok := parseSSHLogin(c.line)
		if ok != c.ok || got != c.want {
			t.Errorf("%s: got %+v %v, want %+v %v", c.name, got, ok, c.want, c.ok)
		}
	}
	if got, ok := parseSSHLogin("sshd[1]: Accepted password for \xff\xfe from 192.0.2.1 port 22 ssh2"); !ok || got.user != "\uFFFD" {
		t.Errorf("invalid UTF-8 user: got %q %v", got.user, ok)
	}
}

func TestUUIDv7(t *testing.T) {
	id := newUUIDv7(time.UnixMilli(0x0123456789ab))
	if !regexp.MustCompile(`^01234567-89ab-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
		t.Fatalf("not a UUIDv7 of that time: %s", id)
	}
}

func TestOutboxKeepsUnackedAcrossReopenAndSurvivesATornLine(t *testing.T) {
	dir := t.TempDir()
	o, err := openOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*pb.Alert{{Id: "a", Revision: 1}, {Id: "b", Revision: 1}, {Id: "a", Revision: 2}, {Id: "c", Revision: 1}} {
		if err := o.put(a, &logPosition{Inode: 7, Offset: int64(len(a.Id))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.ack("a", 1); err != nil { // an old revision's ack keeps revision 2
		t.Fatal(err)
	}
	if _, err := o.ack("b", 1); err != nil {
		t.Fatal(err)
	}
	if err := o.reject("c", 1, "INVALID", "no subject", time.Now()); err != nil {
		t.Fatal(err)
	}
	o.close()
	f, _ := os.OpenFile(filepath.Join(dir, "outbox.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"op":"ack","id":"a","rev`) // a write cut by a crash
	f.Close()

	again, err := openOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer again.close()
	if pos, ok := again.sourcePosition(); !ok || pos.Inode != 7 {
		t.Fatalf("source position after reopen: %v %v", pos, ok)
	}
	pending := again.pendingAlerts()
	if len(pending) != 1 || pending[0].Id != "a" || pending[0].Revision != 2 {
		t.Fatalf("pending after reopen: %v", pending)
	}
	dead, _ := os.ReadFile(filepath.Join(dir, "dead-letter.jsonl"))
	if !regexp.MustCompile(`"alert_id":"c".*"reason":"INVALID"`).Match(dead) {
		t.Fatalf("dead letter: %s", dead)
	}
}

func TestJournalAnswersARedeliveryFromTheStoredResult(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := &agent{journal: j, now: time.Now, events: &eventLog{out: os.Stderr, now: time.Now}}
	action := &pb.ResponseAction{ActionId: "x1", Answer: pb.Answer_ANSWER_IGNORE}
	first, err := a.handleAction(action)
	if err != nil || first.Status != pb.ResultStatus_RESULT_STATUS_DONE {
		t.Fatalf("first: %v %v", first, err)
	}
	if err := j.start("x2", pb.Answer_ANSWER_IGNORE, "boot", time.Now()); err != nil { // started, then "crashed"
		t.Fatal(err)
	}
	j.close()

	j, err = openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	a.journal = j
	if got := j.unacked(); len(got) != 1 || got[0].ActionId != "x1" {
		t.Fatalf("unacked after reopen: %v", got)
	}
	again, _ := a.handleAction(action)
	if again.Detail != first.Detail || !again.FinishedAt.AsTime().Equal(first.FinishedAt.AsTime()) {
		t.Fatalf("redelivery not answered from the journal: %v vs %v", again, first)
	}
	unknown, _ := a.handleAction(&pb.ResponseAction{ActionId: "x2", Answer: pb.Answer_ANSWER_IGNORE})
	if unknown.Status != pb.ResultStatus_RESULT_STATUS_FAILED {
		t.Fatalf("an action started before a crash must not run again: %v", unknown)
	}
	if ok, err := j.rejected("x1"); !ok || err != nil {
		t.Fatalf("rejected: %v %v", ok, err)
	}
	if got := j.unacked(); len(got) != 1 || got[0].ActionId != "x2" {
		t.Fatalf("a rejected result is not resent: %v", got)
	}
	refused, _ := a.handleAction(&pb.ResponseAction{ActionId: "x3", Answer: pb.Answer_ANSWER_REBOOT})
	if refused.Status != pb.ResultStatus_RESULT_STATUS_REFUSED {
		t.Fatalf("unsupported answer: %v", refused)
	}
}

func TestOutboxCompactsWhileRunning(t *testing.T) {
	defer func(n int) { compactEvery = n }(compactEvery)
	compactEvery = 5
	dir := t.TempDir()
	o, err := openOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer o.close()
	for i := 0; i < 3; i++ {
		if err := o.put(&pb.Alert{Id: fmt.Sprint("a", i), Revision: 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := int64(1); i <= 12; i++ {
		if err := o.saveSourcePosition(logPosition{Inode: 1, Offset: i}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.ack("a1", 1); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "outbox.jsonl"))
	if lines := strings.Count(string(data), "\n"); lines > compactEvery+3 {
		t.Fatalf("not compacted: %d lines", lines)
	}
	again, err := openOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer again.close()
	pos, _ := again.sourcePosition()
	if got := again.pendingAlerts(); len(got) != 2 || got[0].Id != "a0" || got[1].Id != "a2" || pos.Offset != 12 {
		t.Fatalf("state after compaction: %v, position %v", got, pos)
	}
}
