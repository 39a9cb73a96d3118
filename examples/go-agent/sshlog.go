package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// sshLogin is one "Accepted ..." line of sshd.
type sshLogin struct {
	pid    uint32
	method string
	user   string
	ip     string
	port   uint32
}

// sshdAccepted matches sshd's success line as syslog writes it to
// /var/log/auth.log:
//
//	Dec  1 10:00:00 web-1 sshd[4242]: Accepted publickey for alice from 192.0.2.10 port 50022 ssh2: ED25519 SHA256:...
//
// The user name is untrusted (sshd logs it as the client sent it), so the
// address and port are taken from the last " from ADDR port N ssh2" of the
// line: what sshd itself appended after the name.
var sshdAccepted = regexp.MustCompile(`\bsshd\[(\d+)\]: Accepted (\S+) for (.*) from (\S+) port (\d+) ssh2(?::.*)?$`)

const maxUserBytes = 256

// parseSSHLogin reads one log line; ok is false for any other line.
func parseSSHLogin(line string) (login sshLogin, ok bool) {
	m := sshdAccepted.FindStringSubmatch(line)
	if m == nil {
		return sshLogin{}, false
	}
	pid, err := strconv.ParseUint(m[1], 10, 32)
	if err != nil || pid == 0 {
		return sshLogin{}, false
	}
	port, err := strconv.ParseUint(m[5], 10, 16)
	if err != nil || port == 0 {
		return sshLogin{}, false
	}
	ip := net.ParseIP(m[4])
	if ip == nil {
		return sshLogin{}, false
	}
	user := m[3]
	if user == "" || !utf8.ValidString(user) {
		// A proto3 string must be valid UTF-8; keep the bytes visible.
		user = strings.ToValidUTF8(user, "\uFFFD")
	}
	if len(user) > maxUserBytes {
		user = truncateUTF8(user, maxUserBytes)
	}
	return sshLogin{pid: uint32(pid), method: m[2], user: user, ip: ip.String(), port: uint32(port)}, true
}

func truncateUTF8(s string, max int) string {
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}

// sshLogFollower follows a log file by polling its size, across rotation
// (a new inode, or a file shorter than the position: read from the start).
//
// Its position lives in the outbox, written in the same fsynced record as
// the alert of the line read (or alone for lines that raise nothing), so a
// crash can neither lose a login (position saved, alert not) nor raise it
// twice with two ids (alert saved, position not). A first start (no
// position yet) begins at the end of the file: old logins are history.
type sshLogFollower struct {
	path  string
	every time.Duration
	// load returns the saved position, if any.
	load func() (logPosition, bool)
	// save stores a position reached without a login.
	save func(logPosition) error
	// onLogin stores the login's alert together with the position after its line.
	onLogin func(login sshLogin, after logPosition) error
	logf    func(format string, args ...interface{})
	// ready runs once, after the first successful read of the log.
	ready func(logPosition)
}

// logPosition is where a log file has been read up to.
type logPosition struct {
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
}

func (f *sshLogFollower) run(ctx context.Context) {
	pos, known := f.load()
	ticker := time.NewTicker(f.every)
	defer ticker.Stop()
	lastErr := ""
	for {
		next, err := f.poll(pos, known)
		switch {
		case err != nil && err.Error() != lastErr:
			f.logf("ssh log %s: %v", f.path, err) // once, not at every poll
			lastErr = err.Error()
		case err == nil && lastErr != "":
			f.logf("ssh log %s: readable again", f.path)
			lastErr = ""
		}
		if err == nil && f.ready != nil {
			f.ready(next)
			f.ready = nil
		}
		pos, known = next, known || err == nil
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// poll reads the complete lines written since pos.
func (f *sshLogFollower) poll(pos logPosition, known bool) (logPosition, error) {
	file, err := os.Open(f.path)
	if err != nil {
		return pos, err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return pos, err
	}
	inode := uint64(0)
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		inode = st.Ino
	}
	switch {
	case !known:
		pos = logPosition{Inode: inode, Offset: info.Size()}
		return pos, f.save(pos)
	case pos.Inode != inode || info.Size() < pos.Offset:
		pos = logPosition{Inode: inode, Offset: 0}
	}
	if info.Size() == pos.Offset {
		return pos, nil
	}
	saved := pos
	if _, err := file.Seek(pos.Offset, io.SeekStart); err != nil {
		return pos, err
	}
	data, err := io.ReadAll(io.LimitReader(file, 4<<20))
	if err != nil {
		return pos, err
	}
	for {
		end := bytes.IndexByte(data, '\n')
		if end < 0 {
			break // an unfinished line: read it whole next time
		}
		line := string(data[:end])
		data = data[end+1:]
		after := logPosition{Inode: pos.Inode, Offset: pos.Offset + int64(end+1)}
		if login, ok := parseSSHLogin(line); ok {
			if err := f.onLogin(login, after); err != nil {
				// The lines before it are done; this one is read again.
				return pos, fmt.Errorf("outbox: %w", err)
			}
			saved = after
		}
		pos = after
	}
	if pos != saved {
		return pos, f.save(pos)
	}
	return pos, nil
}
