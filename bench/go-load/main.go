// secarc-go-load: the link benchmarks' load fleet as one Go process. It
// plays thousands of agents, each one gRPC client (grpc-go, mutual TLS,
// its own certificate and TLS session cache) with one AgentService.Connect
// stream, that reconnect as agents do: each walks the controller endpoints
// in an order of its own, moves to the next one after a failure after a
// full-jitter wait (agent/link/reconnect-plan.ts and backoff.ts, the
// agent's link defaults), gives up on a session without a Welcome after
// link.connectTimeout, keeps its unacknowledged alerts in an outbox that it
// resends after every Welcome, and offers its last TLS ticket when it
// reconnects.
//
// It speaks the command protocol of bench/link-load-workers.ts: commands as
// JSON lines on stdin, reports (stats every 100 ms, "connected",
// "burstDone", "issued", "failed") as JSON lines on stdout. The agents'
// certificates come in a JSON file named by the only argument:
// {"ca": PEM, "agents": [{"name", "cert", "key"}]}.
//
// Why Go: the same fleet in Node (http2 + tls per agent) took about twice
// the CPU of the controller it loaded, so on one 2-core machine the
// benchmarks measured the load more than the controller.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	mrand "math/rand"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/secarc/secarc/gen/go/secarc/v1"
)

// The agent's link defaults (agent/config.ts): backoffInitial, backoffMax,
// connectTimeout; a welcomed session that lasted healthyAfter resets the
// backoff (agent/link/link-client.ts).
const (
	backoffInitial = 500 * time.Millisecond
	backoffMax     = 30 * time.Second
	connectTimeout = 30 * time.Second
	healthyAfter   = 5 * time.Second
	// Below the bench controller's 30 s heartbeat interval, as agents do.
	heartbeatEvery = 15 * time.Second
	// common/link-reconnect.ts
	reconnectTrailer   = "secarc-reconnect"
	reconnectRebalance = "rebalance"
)

type pkiFile struct {
	CA     string `json:"ca"`
	Agents []struct {
		Name string `json:"name"`
		Cert string `json:"cert"`
		Key  string `json:"key"`
	} `json:"agents"`
}

type command struct {
	Type      string `json:"type"`
	Ports     []int  `json:"ports"`
	On        bool   `json:"on"`
	TimeoutMs int    `json:"timeoutMs"`
	InFlight  int    `json:"inFlight"`
	ID        int    `json:"id"`
	Agents    int    `json:"agents"`
	PerAgent  int    `json:"perAgent"`
	TickMs    int    `json:"tickMs"`
}

// plan is agent/link/reconnect-plan.ts: an order of the endpoints of the
// agent's own, full-jitter backoff whose ceiling doubles once per round
// over the endpoints, a rebalance that draws from all.
type plan struct {
	order      []string
	index      int
	attempts   int // rounds over the endpoints that all failed
	inPass     int // failures in the round under way
	welcomedAt time.Time
	rng        *mrand.Rand
}

func newPlan(addresses []string, rng *mrand.Rand) *plan {
	order := append([]string(nil), addresses...)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	return &plan{order: order, rng: rng}
}

func (p *plan) current() string { return p.order[p.index] }

func (p *plan) welcomed() { p.welcomedAt = time.Now() }

func (p *plan) ended(rebalance bool) time.Duration {
	wasWelcomed := !p.welcomedAt.IsZero()
	sessionLength := time.Since(p.welcomedAt)
	p.welcomedAt = time.Time{}
	if rebalance {
		p.attempts, p.inPass = 0, 0
		p.index = p.rng.Intn(len(p.order))
		return time.Duration(p.rng.Int63n(int64(backoffInitial)))
	}
	if wasWelcomed && sessionLength >= healthyAfter {
		p.attempts, p.inPass = 0, 0
	}
	p.index = (p.index + 1) % len(p.order)
	ceiling := math.Min(float64(backoffMax), float64(backoffInitial)*math.Pow(2, math.Min(float64(p.attempts), 30)))
	// The ceiling grows once per round over the endpoints.
	p.inPass++
	if p.inPass >= len(p.order) {
		p.attempts++
		p.inPass = 0
	}
	return time.Duration(p.rng.Float64() * ceiling)
}

// agent is one simulated agent across its sessions.
type agent struct {
	name  string
	creds credentials.TransportCredentials
	plan  *plan
	// When the current session's TLS handshake was verified (Unix ns).
	tlsAt atomic.Int64

	mu     sync.Mutex
	outbox map[string]*pb.Alert
	order  []string // outbox ids, oldest first (acked ids are skipped when resending)
	acks   int
	// The current session's send queue while it is welcomed, else nil.
	queue *sendQueue
}

// sendQueue serializes one stream's sends (grpc-go's Send is not safe for
// concurrent use) without blocking whoever queues.
type sendQueue struct {
	mu      sync.Mutex
	pending []*pb.AgentMessage
	wake    chan struct{}
}

func newSendQueue() *sendQueue { return &sendQueue{wake: make(chan struct{}, 1)} }

func (q *sendQueue) push(m *pb.AgentMessage) {
	q.mu.Lock()
	q.pending = append(q.pending, m)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *sendQueue) run(ctx context.Context, stream pb.AgentService_ConnectClient) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		}
		q.mu.Lock()
		batch := q.pending
		q.pending = nil
		q.mu.Unlock()
		for _, m := range batch {
			if stream.Send(m) != nil {
				return
			}
		}
	}
}

type fleet struct {
	agents    []*agent
	addresses []string
	started   []bool

	stopped   atomic.Bool
	reconnect atomic.Bool
	welcomed  atomic.Int64
	failed    atomic.Int64
	rejects   atomic.Int64
	resumed   atomic.Int64
	running   sync.WaitGroup
	cancelAll context.CancelFunc
	root      context.Context

	mu         sync.Mutex
	onPort     map[int]int
	endReasons map[string]int
	issued     []string

	out   *bufio.Writer
	outMu sync.Mutex

	// The latest sessions' times from the dial to the TLS handshake done,
	// and from there to the Welcome: where a connect's wait was.
	timesMu sync.Mutex
	tlsMs   ring
	helloMs ring
}

// ring keeps the last len(values) samples.
type ring struct {
	values [4096]float64
	n      int
}

func (r *ring) add(v float64) {
	r.values[r.n%len(r.values)] = v
	r.n++
}

// percentiles of the samples kept: p50, p90, p99 and the largest.
func (r *ring) percentiles() []float64 {
	n := r.n
	if n > len(r.values) {
		n = len(r.values)
	}
	if n == 0 {
		return nil
	}
	sorted := append([]float64(nil), r.values[:n]...)
	sort.Float64s(sorted)
	at := func(q float64) float64 { return math.Round(sorted[int(q*float64(n-1))]) }
	return []float64{at(0.5), at(0.9), at(0.99), math.Round(sorted[n-1])}
}

func (f *fleet) report(v interface{}) {
	line, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	f.outMu.Lock()
	defer f.outMu.Unlock()
	f.out.Write(line)
	f.out.WriteByte('\n')
	f.out.Flush()
}

func newID(now time.Time) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	ms := uint64(now.UnixMilli())
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	b[6] = 0x70 | (b[6] & 0x0f)
	b[8] = 0x80 | (b[8] & 0x3f)
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// benchAlert is bench/link-load-fleet.ts's benchAlert.
func benchAlert(now time.Time, j int) *pb.Alert {
	return &pb.Alert{
		Id:         newID(now),
		Revision:   1,
		Kind:       pb.AlertKind_ALERT_KIND_HTTP_404_BURST,
		Severity:   pb.Severity_SEVERITY_WARNING,
		State:      pb.AlertState_ALERT_STATE_OPEN,
		DetectedAt: timestamppb.New(now),
		Answers:    []pb.Answer{pb.Answer_ANSWER_IGNORE, pb.Answer_ANSWER_BLOCK_IP},
		Subject: &pb.Alert_HttpErrors{HttpErrors: &pb.HttpErrors{
			ClientIp: fmt.Sprintf("198.51.100.%d", j%250), Status: 404, Count: 25, RecentPaths: []string{"/wp-login.php", "/.env"},
		}},
	}
}

// emit puts alerts in the agent's outbox and sends them now when it is welcomed (else after its next Welcome).
func (f *fleet) emit(a *agent, count int) (target int) {
	now := time.Now()
	alerts := make([]*pb.Alert, count)
	for j := range alerts {
		alerts[j] = benchAlert(now, j)
	}
	ids := make([]string, count)
	a.mu.Lock()
	for j, alert := range alerts {
		a.outbox[alert.Id] = alert
		a.order = append(a.order, alert.Id)
		ids[j] = alert.Id
	}
	target = a.acks + count
	if a.queue != nil {
		for _, alert := range alerts {
			a.queue.push(&pb.AgentMessage{Payload: &pb.AgentMessage_Alert{Alert: alert}})
		}
	}
	a.mu.Unlock()
	f.mu.Lock()
	f.issued = append(f.issued, ids...)
	f.mu.Unlock()
	return target
}

func (a *agent) ackCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.acks
}

func (a *agent) unacked() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.outbox)
}

func portOf(address string) int {
	p, _ := strconv.Atoi(address[strings.LastIndexByte(address, ':')+1:])
	return p
}

func (f *fleet) countPort(port, by int) {
	f.mu.Lock()
	f.onPort[port] += by
	f.mu.Unlock()
}

// run is the agent's life: sessions one after another, each to the plan's
// endpoint, with the plan's wait between them, until the fleet stops.
func (f *fleet) run(a *agent) {
	defer f.running.Done()
	for !f.stopped.Load() {
		address := a.plan.current()
		port := portOf(address)
		welcomed, reason, rebalance := f.session(a, address, port)
		if f.stopped.Load() {
			return
		}
		if welcomed {
			f.welcomed.Add(-1)
			f.countPort(port, -1)
		} else {
			f.failed.Add(1)
		}
		if !(f.reconnect.Load() && welcomed) {
			when := "before"
			if welcomed {
				when = "after"
			}
			f.mu.Lock()
			f.endReasons[when+" its Welcome: "+reason]++
			f.mu.Unlock()
		}
		wait := a.plan.ended(rebalance && welcomed)
		select {
		case <-f.root.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Socket addresses in error texts ("read tcp 127.0.0.1:33746->127.0.0.1:40711"), so that reasons count together.
var socketAddress = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:\d+(->\d+\.\d+\.\d+\.\d+:\d+)?`)

func endReason(err error) string {
	s, ok := status.FromError(err)
	var reason string
	if ok {
		reason = fmt.Sprintf("grpc-status %d %s", s.Code(), s.Message())
	} else {
		reason = "connection error " + err.Error()
	}
	reason = socketAddress.ReplaceAllString(reason, "…")
	if len(reason) > 160 {
		reason = reason[:160]
	}
	return reason
}

// session runs one connection and its Connect stream until it ends.
func (f *fleet) session(a *agent, address string, port int) (welcomed bool, reason string, rebalance bool) {
	ctx, cancel := context.WithCancel(f.root)
	defer cancel()
	dialAt := time.Now()
	a.tlsAt.Store(0)
	conn, err := grpc.DialContext(ctx, address,
		grpc.WithTransportCredentials(a.creds),
		grpc.WithDisableRetry(),
		grpc.WithDisableServiceConfig(),
		grpc.WithReadBufferSize(16*1024),
		grpc.WithWriteBufferSize(16*1024),
		// The dial and handshake get the agent's whole connect timeout, not grpc-go's own 20 s minimum.
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: connectTimeout}),
	)
	if err != nil {
		return false, endReason(err), false
	}
	defer conn.Close()
	timedOut := atomic.Bool{}
	timer := time.AfterFunc(connectTimeout, func() {
		timedOut.Store(true)
		cancel()
	})
	stream, err := pb.NewAgentServiceClient(conn).Connect(ctx)
	if err != nil {
		timer.Stop()
		if timedOut.Load() {
			return false, fmt.Sprintf("no Welcome within %d ms", connectTimeout.Milliseconds()), false
		}
		return false, endReason(err), false
	}
	hello := &pb.AgentMessage{Payload: &pb.AgentMessage_Hello{Hello: &pb.Hello{
		AgentId: a.name, AgentVersion: "bench", Hostname: a.name, Actions: []pb.Answer{pb.Answer_ANSWER_BLOCK_IP},
	}}}
	ended := func(err error) (bool, string, bool) {
		if timedOut.Load() && !welcomed {
			return false, fmt.Sprintf("no Welcome within %d ms", connectTimeout.Milliseconds()), false
		}
		return welcomed, endReason(err), rebalanceIn(stream.Trailer())
	}
	if err := stream.Send(hello); err != nil {
		_, err = stream.Recv()
		timer.Stop()
		return ended(err)
	}
	var queue *sendQueue
	defer func() {
		a.mu.Lock()
		if a.queue == queue {
			a.queue = nil
		}
		a.mu.Unlock()
	}()
	for {
		message, err := stream.Recv()
		if err != nil {
			timer.Stop()
			return ended(err)
		}
		switch payload := message.Payload.(type) {
		case *pb.ControllerMessage_Welcome:
			if welcomed || !timer.Stop() {
				continue
			}
			welcomed = true
			if tlsAt := a.tlsAt.Load(); tlsAt != 0 {
				f.timesMu.Lock()
				f.tlsMs.add(float64(tlsAt-dialAt.UnixNano()) / 1e6)
				f.helloMs.add(float64(time.Now().UnixNano()-tlsAt) / 1e6)
				f.timesMu.Unlock()
			}
			a.plan.welcomed()
			f.welcomed.Add(1)
			f.countPort(port, 1)
			queue = newSendQueue()
			go queue.run(ctx, stream)
			go heartbeats(ctx, a, queue)
			a.mu.Lock()
			a.queue = queue
			kept := a.order[:0]
			for _, id := range a.order {
				if alert, ok := a.outbox[id]; ok {
					kept = append(kept, id)
					queue.push(&pb.AgentMessage{Payload: &pb.AgentMessage_Alert{Alert: alert}})
				}
			}
			a.order = kept
			a.mu.Unlock()
		case *pb.ControllerMessage_AlertAck:
			a.mu.Lock()
			if _, ok := a.outbox[payload.AlertAck.AlertId]; ok {
				delete(a.outbox, payload.AlertAck.AlertId)
				a.acks++
			}
			a.mu.Unlock()
		case *pb.ControllerMessage_AlertReject:
			f.rejects.Add(1)
			a.mu.Lock()
			delete(a.outbox, payload.AlertReject.AlertId)
			a.mu.Unlock()
		}
	}
}

func rebalanceIn(md metadata.MD) bool {
	for _, v := range md.Get(reconnectTrailer) {
		if v == reconnectRebalance {
			return true
		}
	}
	return false
}

// heartbeats sends a Heartbeat every heartbeatEvery, the first at a random point of the interval.
func heartbeats(ctx context.Context, a *agent, queue *sendQueue) {
	wait := time.Duration(mrand.Int63n(int64(heartbeatEvery)))
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = heartbeatEvery
		depth := a.unacked()
		queue.push(&pb.AgentMessage{Payload: &pb.AgentMessage_Heartbeat{Heartbeat: &pb.Heartbeat{SentAt: timestamppb.Now(), OutboxDepth: uint32(depth)}}})
	}
}

func (f *fleet) start(i int) {
	if f.started[i] {
		return
	}
	f.started[i] = true
	f.running.Add(1)
	go f.run(f.agents[i])
}

func (f *fleet) connectAll(timeout time.Duration, inFlight int) error {
	base := f.welcomed.Load()
	deadline := time.Now().Add(timeout)
	for i := range f.agents {
		for int64(i)-(f.welcomed.Load()-base) >= int64(inFlight) {
			if time.Now().After(deadline) {
				return fmt.Errorf("timed out connecting: %d of %d started agents welcomed", f.welcomed.Load()-base, i)
			}
			time.Sleep(2 * time.Millisecond)
		}
		f.start(i)
	}
	for f.welcomed.Load()-base < int64(len(f.agents)) {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %d agents welcomed", len(f.agents))
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

type stats struct {
	Welcomed   int64          `json:"welcomed"`
	OnPort     map[int]int    `json:"onPort"`
	Failed     int64          `json:"failed"`
	Unacked    int            `json:"unacked"`
	Rejects    int64          `json:"rejects"`
	Resumed    int64          `json:"resumed"`
	EndReasons map[string]int `json:"endReasons"`
	// p50, p90, p99, max in ms of the latest sessions: dial → TLS done, TLS done → Welcome.
	TLSMs     []float64 `json:"tlsMs"`
	WelcomeMs []float64 `json:"welcomeMs"`
}

func (f *fleet) stats() stats {
	s := stats{Welcomed: f.welcomed.Load(), Failed: f.failed.Load(), Rejects: f.rejects.Load(), Resumed: f.resumed.Load(), OnPort: map[int]int{}, EndReasons: map[string]int{}}
	for _, a := range f.agents {
		s.Unacked += a.unacked()
	}
	f.mu.Lock()
	for k, v := range f.onPort {
		s.OnPort[k] = v
	}
	for k, v := range f.endReasons {
		s.EndReasons[k] = v
	}
	f.mu.Unlock()
	f.timesMu.Lock()
	s.TLSMs, s.WelcomeMs = f.tlsMs.percentiles(), f.helloMs.percentiles()
	f.timesMu.Unlock()
	return s
}

// keptTicket holds an agent's newest TLS session. crypto/tls drops the
// session it offered whenever that handshake fails, a reset or a refusal
// included (Put(key, nil)); the agent's own link keeps its ticket through
// resets and forgets it only when the controller's certificate failed
// verification (agent/link/tls-resumption.ts), which this load never sees.
// A ticket the controller no longer accepts is replaced by the new
// session of the full handshake it answers with.
type keptTicket struct {
	mu      sync.Mutex
	session *tls.ClientSessionState
}

func (k *keptTicket) Get(string) (*tls.ClientSessionState, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.session, k.session != nil
}

func (k *keptTicket) Put(_ string, session *tls.ClientSessionState) {
	if session == nil {
		return
	}
	k.mu.Lock()
	k.session = session
	k.mu.Unlock()
}

func load(path string, f *fleet) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var p pkiFile
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(p.CA)) {
		return fmt.Errorf("%s: no CA certificate", path)
	}
	for _, entry := range p.Agents {
		pair, err := tls.X509KeyPair([]byte(entry.Cert), []byte(entry.Key))
		if err != nil {
			return fmt.Errorf("%s: agent %s: %w", path, entry.Name, err)
		}
		a := &agent{name: entry.Name, outbox: map[string]*pb.Alert{}}
		config := &tls.Config{
			Certificates:       []tls.Certificate{pair},
			RootCAs:            roots,
			ServerName:         "localhost",
			MinVersion:         tls.VersionTLS12,
			ClientSessionCache: &keptTicket{},
			VerifyConnection: func(cs tls.ConnectionState) error {
				a.tlsAt.Store(time.Now().UnixNano())
				if cs.DidResume {
					f.resumed.Add(1)
				}
				return nil
			},
		}
		a.creds = credentials.NewTLS(config)
		f.agents = append(f.agents, a)
	}
	f.started = make([]bool, len(f.agents))
	return nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: secarc-go-load <agents.json>")
		os.Exit(2)
	}
	f := &fleet{onPort: map[int]int{}, endReasons: map[string]int{}, out: bufio.NewWriterSize(os.Stdout, 1<<20)}
	f.root, f.cancelAll = context.WithCancel(context.Background())
	if err := load(os.Args[1], f); err != nil {
		fmt.Fprintln(os.Stderr, "secarc-go-load:", err)
		os.Exit(1)
	}
	go func() {
		for range time.Tick(100 * time.Millisecond) {
			f.report(map[string]interface{}{"type": "stats", "stats": f.stats()})
		}
	}()
	var floodStop chan struct{}
	input := bufio.NewScanner(os.Stdin)
	input.Buffer(make([]byte, 1<<20), 1<<20)
	for input.Scan() {
		var c command
		if err := json.Unmarshal(input.Bytes(), &c); err != nil {
			f.report(map[string]interface{}{"type": "failed", "message": "bad command: " + err.Error()})
			continue
		}
		switch c.Type {
		case "endpoints":
			f.addresses = nil
			for _, p := range c.Ports {
				f.addresses = append(f.addresses, fmt.Sprintf("127.0.0.1:%d", p))
			}
			seed := time.Now().UnixNano()
			for i, a := range f.agents {
				a.plan = newPlan(f.addresses, mrand.New(mrand.NewSource(seed+int64(i))))
			}
		case "reconnect":
			f.reconnect.Store(c.On)
		case "connectAll":
			go func(c command) {
				if err := f.connectAll(time.Duration(c.TimeoutMs)*time.Millisecond, c.InFlight); err != nil {
					f.report(map[string]interface{}{"type": "failed", "message": err.Error()})
					return
				}
				f.report(map[string]interface{}{"type": "connected"})
			}(c)
		case "burst":
			n := c.Agents
			if n > len(f.agents) {
				n = len(f.agents)
			}
			targets := make([]int, n)
			for i := 0; i < n; i++ {
				targets[i] = f.emit(f.agents[i], c.PerAgent)
			}
			go func(id int) {
				for i := 0; i < n; i++ {
					for f.agents[i].ackCount() < targets[i] {
						time.Sleep(5 * time.Millisecond)
					}
				}
				f.report(map[string]interface{}{"type": "burstDone", "id": id})
			}(c.ID)
		case "flood":
			if floodStop != nil {
				close(floodStop)
			}
			floodStop = make(chan struct{})
			n := c.Agents
			if n > len(f.agents) {
				n = len(f.agents)
			}
			share := int(math.Max(1, math.Round(float64(n)/(1000/float64(c.TickMs)))))
			go func(stop chan struct{}, tick time.Duration) {
				next := 0
				ticker := time.NewTicker(tick)
				defer ticker.Stop()
				for {
					select {
					case <-stop:
						return
					case <-ticker.C:
					}
					for i := 0; i < share; i++ {
						f.emit(f.agents[next], 1)
						next = (next + 1) % n
					}
				}
			}(floodStop, time.Duration(c.TickMs)*time.Millisecond)
		case "floodStop":
			if floodStop != nil {
				close(floodStop)
				floodStop = nil
			}
		case "issued":
			f.mu.Lock()
			ids := append([]string(nil), f.issued...)
			f.mu.Unlock()
			f.report(map[string]interface{}{"type": "issued", "ids": ids})
		case "close":
			f.stopped.Store(true)
			f.cancelAll()
			f.running.Wait()
			f.outMu.Lock()
			f.out.Flush()
			os.Exit(0)
		default:
			f.report(map[string]interface{}{"type": "failed", "message": "unknown command " + c.Type})
		}
	}
	// stdin closed: the bench is gone.
	os.Exit(0)
}
