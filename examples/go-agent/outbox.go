package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/secarc/secarc/gen/go/secarc/v1"
)

// outbox holds every alert revision that the controller has not yet
// acknowledged, in outbox.jsonl. An alert is written here (and fsynced)
// before it is sent; it leaves only on an AlertAck for its revision (or a
// later one), or on an AlertReject, which moves it to dead-letter.jsonl.
//
// Records: {"op":"put","seq":N,"alert":<Alert as bytes>,"source":POS},
// {"op":"ack","id":ID,"revision":R} and {"op":"source","source":POS}: the
// SSH log position is kept here, with the alerts read up to it (see
// sshLogFollower).
type outbox struct {
	mu      sync.Mutex
	file    *recordFile
	dead    *recordFile
	pending map[string]*pendingAlert
	nextSeq uint64
	source  *logPosition
}

type pendingAlert struct {
	seq   uint64
	alert *pb.Alert
}

type outboxRecord struct {
	Op       string       `json:"op"`
	Seq      uint64       `json:"seq,omitempty"`
	Alert    []byte       `json:"alert,omitempty"`
	ID       string       `json:"id,omitempty"`
	Revision uint32       `json:"revision,omitempty"`
	Source   *logPosition `json:"source,omitempty"`
}

// deadLetter is one alert the controller refused, kept for the operator.
type deadLetter struct {
	At       time.Time `json:"at"`
	AlertID  string    `json:"alert_id"`
	Revision uint32    `json:"revision"`
	Reason   string    `json:"reason"`
	Detail   string    `json:"detail"`
	Alert    []byte    `json:"alert,omitempty"`
}

func openOutbox(dir string) (*outbox, error) {
	o := &outbox{pending: map[string]*pendingAlert{}, nextSeq: 1}
	apply := func(line []byte) error {
		var rec outboxRecord
		if err := json.Unmarshal(line, &rec); err != nil {
			return err
		}
		switch rec.Op {
		case "put":
			alert := &pb.Alert{}
			if err := proto.Unmarshal(rec.Alert, alert); err != nil {
				return fmt.Errorf("alert: %w", err)
			}
			o.apply(rec.Seq, alert)
			if rec.Source != nil {
				o.source = rec.Source
			}
		case "source":
			o.source = rec.Source
		case "ack":
			o.drop(rec.ID, rec.Revision)
		default:
			return fmt.Errorf("unknown op %q", rec.Op)
		}
		return nil
	}
	file, err := openRecordFile(filepath.Join(dir, "outbox.jsonl"), apply, o.snapshot)
	if err != nil {
		return nil, err
	}
	dead, err := openAppendOnly(filepath.Join(dir, "dead-letter.jsonl"))
	if err != nil {
		return nil, err
	}
	o.file, o.dead = file, dead
	return o, nil
}

func (o *outbox) apply(seq uint64, alert *pb.Alert) {
	if seq >= o.nextSeq {
		o.nextSeq = seq + 1
	}
	if old, ok := o.pending[alert.Id]; ok && old.alert.Revision > alert.Revision {
		return
	}
	o.pending[alert.Id] = &pendingAlert{seq: seq, alert: alert}
}

func (o *outbox) drop(id string, revision uint32) bool {
	if p, ok := o.pending[id]; ok && p.alert.Revision <= revision {
		delete(o.pending, id)
		return true
	}
	return false
}

func (o *outbox) snapshot() []interface{} {
	records := []interface{}{}
	if o.source != nil {
		records = append(records, outboxRecord{Op: "source", Source: o.source})
	}
	for _, p := range o.list() {
		data, _ := proto.Marshal(p.alert)
		records = append(records, outboxRecord{Op: "put", Seq: p.seq, Alert: data})
	}
	return records
}

// list is the pending alerts, oldest first. Callers hold mu (or own o).
func (o *outbox) list() []*pendingAlert {
	out := make([]*pendingAlert, 0, len(o.pending))
	for _, p := range o.pending {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// put stores an alert revision durably, with the log position after the
// line it came from (nil: none); it returns once the record is on disk.
func (o *outbox) put(alert *pb.Alert, source *logPosition) error {
	data, err := proto.Marshal(alert)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	seq := o.nextSeq
	if err := o.append(outboxRecord{Op: "put", Seq: seq, Alert: data, Source: source}); err != nil {
		return err
	}
	o.apply(seq, alert)
	if source != nil {
		o.source = source
	}
	return o.compact()
}

// compactEvery is how many records are appended before the file is
// rewritten from the state (on a busy log, a position record per poll).
var compactEvery = 10_000

// append writes one record; callers hold mu and call compact once they
// have applied it to the state.
func (o *outbox) append(record outboxRecord) error {
	if err := o.file.append(record); err != nil {
		return err
	}
	o.file.appended++
	return nil
}

// compact rewrites the file from the state after compactEvery appends.
func (o *outbox) compact() error {
	if o.file.appended < compactEvery {
		return nil
	}
	return o.file.rewrite(o.snapshot())
}

// sourcePosition is the saved SSH log position, if any.
func (o *outbox) sourcePosition() (logPosition, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.source == nil {
		return logPosition{}, false
	}
	return *o.source, true
}

// saveSourcePosition stores a log position reached without an alert.
func (o *outbox) saveSourcePosition(pos logPosition) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.append(outboxRecord{Op: "source", Source: &pos}); err != nil {
		return err
	}
	o.source = &pos
	return o.compact()
}

// ack drops an acknowledged revision (and older ones). False when nothing matched.
func (o *outbox) ack(id string, revision uint32) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.pending[id]; !ok {
		return false, nil
	}
	if err := o.append(outboxRecord{Op: "ack", ID: id, Revision: revision}); err != nil {
		return false, err
	}
	dropped := o.drop(id, revision)
	return dropped, o.compact()
}

// reject moves a refused alert from the outbox to the dead-letter file: the
// controller would refuse it again on every resend.
func (o *outbox) reject(id string, revision uint32, reason, detail string, now time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	letter := deadLetter{At: now.UTC(), AlertID: id, Revision: revision, Reason: reason, Detail: detail}
	p, ok := o.pending[id]
	if ok && revision == 0 {
		revision = p.alert.Revision // the controller could not read it
	}
	if ok && p.alert.Revision == revision {
		letter.Alert, _ = proto.Marshal(p.alert)
	}
	if err := o.dead.append(letter); err != nil {
		return err
	}
	if !ok {
		return nil
	}
	if err := o.append(outboxRecord{Op: "ack", ID: id, Revision: revision}); err != nil {
		return err
	}
	o.drop(id, revision)
	return o.compact()
}

// pendingAlerts is a copy of the pending alerts, oldest first.
func (o *outbox) pendingAlerts() []*pb.Alert {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := []*pb.Alert{}
	for _, p := range o.list() {
		out = append(out, p.alert)
	}
	return out
}

func (o *outbox) depth() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending)
}

func (o *outbox) close() {
	o.file.close()
	o.dead.close()
}
