// Command secarc-go-agent is a small SecARC agent in Go, generated from the
// same protos as SecARC (proto/secarc/v1). It follows sshd's log for new
// logins, keeps its alerts in a durable outbox until the controller has
// stored them, carries out IGNORE answers exactly once with a journal, and
// keeps one mutual-TLS stream open, reconnecting with backoff.
//
// Standard output: one JSON line per event ({"event":"welcome",...},
// "detector_started",
// "alert_queued", "alert_sent", "alert_acked", "alert_dead_lettered",
// "action_executed", "action_replayed", "action_outcome_unknown",
// "result_sent", "result_acked", "result_rejected", "stream_ended",
// "stopped"). Standard error:
// messages for people. Exit status: 0 after SIGINT/SIGTERM, 1 when the
// controller refuses the agent for good (PERMISSION_DENIED,
// UNAUTHENTICATED) or the state directory fails, 2 for bad arguments.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
)

type config struct {
	target, ca, cert, key, agentID, serverName string
	stateDir, sshLog                           string
	poll, backoffMax, welcomeTimeout           time.Duration
	crashAfterResult                           bool
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("secarc-go-agent", flag.ContinueOnError)
	fs.StringVar(&c.target, "target", "", "controller address, host:port (required)")
	fs.StringVar(&c.ca, "ca", "", "the SecARC CA certificate, ca.pem (required)")
	fs.StringVar(&c.cert, "cert", "", "this agent's certificate, agents/NAME.pem (required)")
	fs.StringVar(&c.key, "key", "", "this agent's private key, agents/NAME-key.pem (required)")
	fs.StringVar(&c.agentID, "agent-id", "", "this agent's id; default: the common name of --cert")
	fs.StringVar(&c.serverName, "server-name", "", "the name to expect in the controller's certificate (default: the host in --target)")
	fs.StringVar(&c.stateDir, "state-dir", "", "directory for outbox.jsonl (with the SSH log position), journal.jsonl, dead-letter.jsonl (required)")
	fs.StringVar(&c.sshLog, "ssh-log", "/var/log/auth.log", "sshd's log to follow for new logins; empty: no detector")
	fs.DurationVar(&c.poll, "poll", 500*time.Millisecond, "how often to look for new lines in --ssh-log")
	fs.DurationVar(&c.backoffMax, "backoff-max", 30*time.Second, "longest wait between reconnects (the wait starts at 0.5 s and doubles)")
	fs.DurationVar(&c.welcomeTimeout, "welcome-timeout", 15*time.Second, "how long to wait for the Welcome after Hello")
	fs.BoolVar(&c.crashAfterResult, "crash-after-result", false, "testing only: exit with status 3 right after an action's result is journaled, before it is sent")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	for name, value := range map[string]string{"--target": c.target, "--ca": c.ca, "--cert": c.cert, "--key": c.key, "--state-dir": c.stateDir} {
		if value == "" {
			return c, fmt.Errorf("%s is required", name)
		}
	}
	if c.poll <= 0 || c.backoffMax < 500*time.Millisecond || c.welcomeTimeout <= 0 {
		return c, errors.New("--poll and --welcome-timeout must be positive, --backoff-max at least 500ms")
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "secarc-go-agent: %v\n", err)
		}
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, cfg))
}

func run(ctx context.Context, cfg config) int {
	fail := func(format string, args ...interface{}) int {
		fmt.Fprintf(os.Stderr, "secarc-go-agent: "+format+"\n", args...)
		return 1
	}
	creds, cn, err := loadTLS(cfg)
	if err != nil {
		return fail("%v", err)
	}
	if cfg.agentID == "" {
		cfg.agentID = cn
	}
	if err := os.MkdirAll(cfg.stateDir, 0o700); err != nil {
		return fail("state directory: %v", err)
	}
	a := &agent{cfg: cfg, now: time.Now, bootID: readBootID(), kick: make(chan struct{}, 1)}
	a.events = &eventLog{out: os.Stdout, now: a.now}
	if a.outbox, err = openOutbox(cfg.stateDir); err != nil {
		return fail("outbox: %v", err)
	}
	defer a.outbox.close()
	if a.journal, err = openJournal(cfg.stateDir); err != nil {
		return fail("journal: %v", err)
	}
	defer a.journal.close()

	if cfg.sshLog != "" {
		follower := &sshLogFollower{
			path: cfg.sshLog, every: cfg.poll, logf: a.logf,
			load: a.outbox.sourcePosition, save: a.outbox.saveSourcePosition, onLogin: a.raiseLogin,
			ready: func(pos logPosition) {
				a.events.emit("detector_started", map[string]interface{}{"log": cfg.sshLog, "offset": pos.Offset})
			},
		}
		go follower.run(ctx)
	}

	conn, err := grpc.DialContext(ctx, cfg.target,
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 20 * time.Second, Timeout: 10 * time.Second}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 500 * time.Millisecond, Multiplier: 2, Jitter: 0.2, MaxDelay: cfg.backoffMax},
			MinConnectTimeout: 10 * time.Second,
		}),
	)
	if err != nil {
		return fail("dial %s: %v", cfg.target, err)
	}
	defer conn.Close()

	wait := 500 * time.Millisecond
	for {
		welcomed, err := a.session(ctx, conn)
		if ctx.Err() != nil {
			a.events.emit("stopped", nil)
			return 0
		}
		st := statusOf(err)
		if welcomed {
			wait = 500 * time.Millisecond
		}
		switch st.Code() {
		case codes.PermissionDenied, codes.Unauthenticated:
			// Reconnecting cannot help: the certificate or the claimed id is
			// refused. An operator must act.
			a.events.emit("stream_ended", map[string]interface{}{"code": codeName(st.Code()), "detail": st.Message(), "retry": false})
			return fail("refused by the controller: %s: %s", codeName(st.Code()), st.Message())
		}
		delay := wait/2 + time.Duration(rand.Int63n(int64(wait/2)+1))
		a.events.emit("stream_ended", map[string]interface{}{"code": codeName(st.Code()), "detail": st.Message(), "retry": true, "retry_in_ms": delay.Milliseconds()})
		a.logf("stream ended: %s: %s; reconnecting in %s", codeName(st.Code()), st.Message(), delay.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			a.events.emit("stopped", nil)
			return 0
		case <-time.After(delay):
		}
		if wait *= 2; wait > cfg.backoffMax {
			wait = cfg.backoffMax
		}
	}
}

// codeName is the gRPC spelling of a code, e.g. PERMISSION_DENIED.
func codeName(c codes.Code) string {
	names := map[codes.Code]string{
		codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN", codes.InvalidArgument: "INVALID_ARGUMENT",
		codes.DeadlineExceeded: "DEADLINE_EXCEEDED", codes.NotFound: "NOT_FOUND", codes.PermissionDenied: "PERMISSION_DENIED",
		codes.ResourceExhausted: "RESOURCE_EXHAUSTED", codes.Aborted: "ABORTED", codes.Internal: "INTERNAL",
		codes.Unavailable: "UNAVAILABLE", codes.Unauthenticated: "UNAUTHENTICATED",
	}
	if name, ok := names[c]; ok {
		return name
	}
	return c.String()
}

// loadTLS reads the agent's key pair and the SecARC CA for mutual TLS, and
// returns the certificate's common name (the agent's identity).
func loadTLS(cfg config) (credentials.TransportCredentials, string, error) {
	pair, err := tls.LoadX509KeyPair(cfg.cert, cfg.key)
	if err != nil {
		return nil, "", fmt.Errorf("certificate %s / key %s: %v", cfg.cert, cfg.key, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, "", fmt.Errorf("certificate %s: %v", cfg.cert, err)
	}
	caPEM, err := os.ReadFile(cfg.ca)
	if err != nil {
		return nil, "", fmt.Errorf("CA %s: %v", cfg.ca, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, "", fmt.Errorf("CA %s: no PEM certificate in it", cfg.ca)
	}
	// The session cache lets a reconnect resume the TLS session (a controller
	// with tls.ticketKeyFile accepts its tickets across its own restarts): the
	// controller skips verifying the certificate chain again.
	tc := &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12, ServerName: cfg.serverName, ClientSessionCache: tls.NewLRUClientSessionCache(8)}
	return credentials.NewTLS(tc), leaf.Subject.CommonName, nil
}
