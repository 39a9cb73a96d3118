package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/secarc/secarc/gen/go/secarc/v1"
)

// version is sent in Hello.agent_version.
const version = "go-example 0.1.0"

// The alert kinds this agent raises and the answers it carries out (Hello).
var (
	detectorKinds    = []pb.AlertKind{pb.AlertKind_ALERT_KIND_SSH_SESSION}
	supportedAnswers = []pb.Answer{pb.Answer_ANSWER_IGNORE}
)

// agent is the state that outlives streams: the outbox, the journal, and
// the signal that a new alert waits to be sent.
type agent struct {
	cfg     config
	outbox  *outbox
	journal *journal
	events  *eventLog
	bootID  string
	now     func() time.Time
	// kick has room for one signal: "the outbox has something new".
	kick chan struct{}
}

// eventLog writes one JSON line per event on standard output: what a
// supervisor (or a test) reads to follow the agent.
type eventLog struct {
	mu  sync.Mutex
	out io.Writer
	now func() time.Time
}

func (l *eventLog) emit(event string, fields map[string]interface{}) {
	line := map[string]interface{}{"event": event, "at": l.now().UTC().Format(time.RFC3339Nano)}
	for k, v := range fields {
		line[k] = v
	}
	data, _ := json.Marshal(line)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out.Write(append(data, '\n'))
}

// raiseLogin turns a login into an alert, stored in the outbox (with the
// log position after its line) before it is sent. A new UUIDv7 per login:
// the id is the controller's idempotency key.
func (a *agent) raiseLogin(login sshLogin, after logPosition) error {
	now := a.now()
	at := timestamppb.New(now)
	alert := &pb.Alert{
		Id:         newUUIDv7(now),
		Revision:   1,
		Kind:       pb.AlertKind_ALERT_KIND_SSH_SESSION,
		Severity:   pb.Severity_SEVERITY_INFO,
		State:      pb.AlertState_ALERT_STATE_OPEN,
		DetectedAt: at,
		UpdatedAt:  at,
		Answers:    supportedAnswers,
		Summary:    fmt.Sprintf("SSH login of %s from %s port %d (%s)", login.user, login.ip, login.port, login.method),
		Subject: &pb.Alert_SshSession{SshSession: &pb.SshSession{
			User:       login.user,
			SourceIp:   login.ip,
			SourcePort: login.port,
			AuthMethod: login.method,
			SshdPid:    login.pid,
		}},
	}
	if err := a.outbox.put(alert, &after); err != nil {
		return err
	}
	a.events.emit("alert_queued", map[string]interface{}{"alert_id": alert.Id, "user": login.user, "source_ip": login.ip})
	select {
	case a.kick <- struct{}{}:
	default:
	}
	return nil
}

// handleAction carries out a ResponseAction at most once and returns the
// result to send. The journal is written before the action runs; a
// redelivered action is answered from the journal.
func (a *agent) handleAction(action *pb.ResponseAction) (*pb.ActionResult, error) {
	id := action.ActionId
	started, stored := a.journal.lookup(id)
	if stored != nil {
		a.events.emit("action_replayed", map[string]interface{}{"action_id": id, "status": stored.Status.String()})
		return stored, nil
	}
	if started {
		result := a.result(id, pb.ResultStatus_RESULT_STATUS_FAILED, "the agent stopped while this action ran; its outcome is unknown, so it is not run again")
		if err := a.journal.finish(id, result); err != nil {
			return nil, err
		}
		a.events.emit("action_outcome_unknown", map[string]interface{}{"action_id": id})
		return result, nil
	}
	if err := a.journal.start(id, action.Answer, a.bootID, a.now()); err != nil {
		return nil, err // not journaled: not run; the controller resends it
	}
	result := a.execute(action)
	if err := a.journal.finish(id, result); err != nil {
		return nil, err
	}
	a.events.emit("action_executed", map[string]interface{}{"action_id": id, "alert_id": action.AlertId, "answer": action.Answer.String(), "status": result.Status.String()})
	if a.cfg.crashAfterResult {
		a.events.emit("crash_injected", map[string]interface{}{"action_id": id})
		os.Exit(3)
	}
	return result, nil
}

// execute runs one action. This example carries out IGNORE only, and
// refuses anything else with a reason (the controller never sends an
// answer missing from Hello.actions, but an agent checks anyway).
func (a *agent) execute(action *pb.ResponseAction) *pb.ActionResult {
	switch action.Answer {
	case pb.Answer_ANSWER_IGNORE:
		detail := "ignored"
		if d := action.GetOptions().GetDuration(); d != nil && d.AsDuration() > 0 {
			detail = fmt.Sprintf("ignored (this agent keeps no mutes: re-alerts are not muted for %s)", d.AsDuration())
		}
		return a.result(action.ActionId, pb.ResultStatus_RESULT_STATUS_DONE, detail)
	default:
		return a.result(action.ActionId, pb.ResultStatus_RESULT_STATUS_REFUSED, fmt.Sprintf("this agent does not carry out %s", action.Answer))
	}
}

func (a *agent) result(id string, status pb.ResultStatus, detail string) *pb.ActionResult {
	return &pb.ActionResult{ActionId: id, Status: status, Detail: detail, FinishedAt: timestamppb.New(a.now())}
}

// newUUIDv7 is an RFC 9562 UUIDv7: 48 bits of Unix milliseconds, then random bits.
func newUUIDv7(now time.Time) string {
	var b [16]byte
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err)
	}
	ms := uint64(now.UnixMilli())
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = 0x70 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// readBootID is the kernel's id of this boot. The journal keeps it with each
// action; an agent that reboots on request compares it to tell "the reboot
// happened" from "the reboot is still to do".
func readBootID() string {
	data, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}
