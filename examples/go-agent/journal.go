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

// journal records every ResponseAction the agent has begun, in
// journal.jsonl, so that none is ever carried out twice:
//
//	{"op":"start","id":ID,"answer":"ANSWER_IGNORE","boot_id":B,"at":T}  before running it
//	{"op":"finish","id":ID,"result":<ActionResult as bytes>}            after, before sending the result
//	{"op":"acked","id":ID}                                              on ResultAck
//	{"op":"rejected","id":ID}                                           on ResultReject (not resent)
//
// A finished action that arrives again is answered with the stored result.
// One that was started but never finished (the agent stopped while running
// it) is not run again: its outcome is unknown, and it is reported FAILED.
// Finished results not yet acknowledged are resent after every Welcome and
// listed in Hello.finished_action_ids. Entries are kept after the ack so that
// a redelivery (e.g. from a controller restored from a backup) is still
// answered from the journal.
type journal struct {
	mu      sync.Mutex
	file    *recordFile
	entries map[string]*journalEntry
	seq     uint64
}

type journalEntry struct {
	seq     uint64
	answer  string
	bootID  string
	started time.Time
	result  *pb.ActionResult // nil until finished
	acked   bool             // by ResultAck, or given up after a ResultReject
	reject  bool
}

type journalRecord struct {
	Op     string    `json:"op"`
	ID     string    `json:"id"`
	Answer string    `json:"answer,omitempty"`
	BootID string    `json:"boot_id,omitempty"`
	At     time.Time `json:"at,omitempty"`
	Result []byte    `json:"result,omitempty"`
}

func openJournal(dir string) (*journal, error) {
	j := &journal{entries: map[string]*journalEntry{}}
	apply := func(line []byte) error {
		var rec journalRecord
		if err := json.Unmarshal(line, &rec); err != nil {
			return err
		}
		switch rec.Op {
		case "start":
			j.seq++
			j.entries[rec.ID] = &journalEntry{seq: j.seq, answer: rec.Answer, bootID: rec.BootID, started: rec.At}
		case "finish":
			e, ok := j.entries[rec.ID]
			if !ok {
				return fmt.Errorf("finish of %s without start", rec.ID)
			}
			e.result = &pb.ActionResult{}
			if err := proto.Unmarshal(rec.Result, e.result); err != nil {
				return fmt.Errorf("result of %s: %w", rec.ID, err)
			}
		case "acked", "rejected":
			if e, ok := j.entries[rec.ID]; ok {
				e.acked, e.reject = true, rec.Op == "rejected"
			}
		default:
			return fmt.Errorf("unknown op %q", rec.Op)
		}
		return nil
	}
	file, err := openRecordFile(filepath.Join(dir, "journal.jsonl"), apply, j.snapshot)
	if err != nil {
		return nil, err
	}
	j.file = file
	return j, nil
}

func (j *journal) ordered() []string {
	ids := make([]string, 0, len(j.entries))
	for id := range j.entries {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return j.entries[ids[a]].seq < j.entries[ids[b]].seq })
	return ids
}

func (j *journal) snapshot() []interface{} {
	records := []interface{}{}
	for _, id := range j.ordered() {
		e := j.entries[id]
		records = append(records, journalRecord{Op: "start", ID: id, Answer: e.answer, BootID: e.bootID, At: e.started})
		if e.result != nil {
			data, _ := proto.Marshal(e.result)
			records = append(records, journalRecord{Op: "finish", ID: id, Result: data})
		}
		if e.reject {
			records = append(records, journalRecord{Op: "rejected", ID: id})
		} else if e.acked {
			records = append(records, journalRecord{Op: "acked", ID: id})
		}
	}
	return records
}

// lookup says what the journal knows of an action: not seen, started (and
// never finished), or finished with this result.
func (j *journal) lookup(id string) (started bool, result *pb.ActionResult) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e, ok := j.entries[id]
	if !ok {
		return false, nil
	}
	return true, e.result
}

// start records that the action is about to run. It returns once on disk.
func (j *journal) start(id string, answer pb.Answer, bootID string, now time.Time) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	rec := journalRecord{Op: "start", ID: id, Answer: answer.String(), BootID: bootID, At: now.UTC()}
	if err := j.file.append(rec); err != nil {
		return err
	}
	j.seq++
	j.entries[id] = &journalEntry{seq: j.seq, answer: rec.Answer, bootID: bootID, started: rec.At}
	return nil
}

// finish stores the result of a started action. It returns once on disk.
func (j *journal) finish(id string, result *pb.ActionResult) error {
	data, err := proto.Marshal(result)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	e, ok := j.entries[id]
	if !ok {
		return fmt.Errorf("finish of %s without start", id)
	}
	if err := j.file.append(journalRecord{Op: "finish", ID: id, Result: data}); err != nil {
		return err
	}
	e.result = result
	return nil
}

// acked marks a result as stored by the controller: it is not resent again.
func (j *journal) acked(id string) (bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e, ok := j.entries[id]
	if !ok || e.result == nil || e.acked {
		return false, nil
	}
	if err := j.file.append(journalRecord{Op: "acked", ID: id}); err != nil {
		return false, err
	}
	e.acked = true
	return true, nil
}

// rejected marks a result the controller refused: it is not resent again.
func (j *journal) rejected(id string) (bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e, ok := j.entries[id]
	if !ok || e.result == nil || e.acked {
		return false, nil
	}
	if err := j.file.append(journalRecord{Op: "rejected", ID: id}); err != nil {
		return false, err
	}
	e.acked, e.reject = true, true
	return true, nil
}

// unacked is the finished results the controller has not acknowledged, oldest first.
func (j *journal) unacked() []*pb.ActionResult {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := []*pb.ActionResult{}
	for _, id := range j.ordered() {
		if e := j.entries[id]; e.result != nil && !e.acked {
			out = append(out, e.result)
		}
	}
	return out
}

func (j *journal) close() { j.file.close() }
