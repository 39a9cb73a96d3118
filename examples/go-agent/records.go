package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// recordFile is an append-only file of JSON lines, each fsynced before
// append returns: the durable storage under the outbox and the journal.
//
// A crash can leave a torn last line (no newline); opening ignores it. On
// open the file is rewritten from the state the caller rebuilt (compaction),
// through a temporary file, fsync and rename, so it never grows without end.
type recordFile struct {
	path string
	file *os.File
	// appended counts appends since the last rewrite (for callers that compact).
	appended int
}

// openRecordFile reads every complete line of path (if it exists) into
// apply, in order, then asks snapshot for the records that describe the
// rebuilt state and rewrites the file with them.
func openRecordFile(path string, apply func(line []byte) error, snapshot func() []interface{}) (*recordFile, error) {
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	for n := 1; len(data) > 0; n++ {
		end := bytes.IndexByte(data, '\n')
		if end < 0 {
			break // a torn last line: the write that made it never returned
		}
		line := data[:end]
		data = data[end+1:]
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := apply(line); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
	}
	r := &recordFile{path: path}
	if err := r.rewrite(snapshot()); err != nil {
		return nil, err
	}
	return r, nil
}

// openAppendOnly opens path for appending records, keeping what it holds
// (a log that is never compacted, such as the dead letters).
func openAppendOnly(path string) (*recordFile, error) {
	file, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &recordFile{path: path, file: file}, nil
}

// append writes one record and fsyncs it.
func (r *recordFile) append(record interface{}) error {
	line, err := json.Marshal(record)
	if err != nil {
		return err
	}
	if _, err := r.file.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", r.path, err)
	}
	if err := r.file.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", r.path, err)
	}
	return nil
}

// rewrite replaces the file with records, atomically.
func (r *recordFile) rewrite(records []interface{}) error {
	tmp := r.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	w := bufio.NewWriter(f)
	for _, record := range records {
		line, err := json.Marshal(record)
		if err != nil {
			f.Close()
			return err
		}
		w.Write(line)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	f.Close()
	if err := os.Rename(tmp, r.path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	if err := syncDir(filepath.Dir(r.path)); err != nil {
		return err
	}
	if r.file != nil {
		r.file.Close()
	}
	r.appended = 0
	r.file, err = os.OpenFile(r.path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", r.path, err)
	}
	return nil
}

func (r *recordFile) close() error {
	if r.file == nil {
		return nil
	}
	return r.file.Close()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
