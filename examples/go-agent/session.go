package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/secarc/secarc/gen/go/secarc/v1"
)

// session runs one Connect stream until it ends, and returns why it ended
// (a gRPC status error) and whether it got as far as the Welcome.
//
//	Hello → Welcome → (resend results and alerts, then new ones; heartbeats)
//	                  ⇄ AlertAck / AlertReject / ResponseAction / ResultAck / ResultReject
func (a *agent) session(ctx context.Context, conn *grpc.ClientConn) (welcomed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := pb.NewAgentServiceClient(conn).Connect(ctx)
	if err != nil {
		return false, err
	}
	if err := stream.Send(a.hello()); err != nil {
		_, err = stream.Recv() // the stream's real status
		return false, err
	}
	welcome, err := recvWelcome(stream, a.cfg.welcomeTimeout, cancel)
	if err != nil {
		return false, err
	}
	a.events.emit("welcome", map[string]interface{}{"session_id": welcome.SessionId, "controller_version": welcome.ControllerVersion})

	results := make(chan *pb.ActionResult, 16)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		a.write(ctx, stream, welcome, results)
	}()
	// The next stream's writer starts only after this one is gone, so that
	// no stale writer takes a kick meant for it.
	defer func() {
		cancel()
		<-writerDone
	}()
	for {
		message, err := stream.Recv()
		if err != nil {
			return true, err
		}
		if err := a.handle(message, results, writerDone); err != nil {
			return true, status.Error(codes.Internal, err.Error())
		}
	}
}

func (a *agent) hello() *pb.AgentMessage {
	var finished []string
	for _, result := range a.journal.unacked() {
		finished = append(finished, result.ActionId)
	}
	host, _ := os.Hostname()
	return &pb.AgentMessage{Payload: &pb.AgentMessage_Hello{Hello: &pb.Hello{
		AgentId:           a.cfg.agentID,
		AgentVersion:      version,
		Hostname:          host,
		Detectors:         detectorKinds,
		Actions:           supportedAnswers,
		FinishedActionIds: finished,
		Addresses:         localAddresses(),
	}}}
}

// recvWelcome waits for the first message, which must be a Welcome.
func recvWelcome(stream pb.AgentService_ConnectClient, timeout time.Duration, cancel context.CancelFunc) (*pb.Welcome, error) {
	timer := time.AfterFunc(timeout, cancel)
	defer timer.Stop()
	first, err := stream.Recv()
	if err != nil {
		if status.Code(err) == codes.Canceled {
			return nil, status.Errorf(codes.DeadlineExceeded, "no Welcome within %s", timeout)
		}
		return nil, err
	}
	welcome := first.GetWelcome()
	if welcome == nil {
		return nil, status.Error(codes.Internal, "the controller's first message was not a Welcome")
	}
	return welcome, nil
}

// handle applies one controller message. An error ends the stream (the
// agent could not write its own state: better reconnect than pretend).
func (a *agent) handle(message *pb.ControllerMessage, results chan<- *pb.ActionResult, writerDone <-chan struct{}) error {
	switch payload := message.Payload.(type) {
	case *pb.ControllerMessage_AlertAck:
		ack := payload.AlertAck
		dropped, err := a.outbox.ack(ack.AlertId, ack.Revision)
		if err != nil {
			return err
		}
		if dropped {
			a.events.emit("alert_acked", map[string]interface{}{"alert_id": ack.AlertId, "revision": ack.Revision})
		}
	case *pb.ControllerMessage_ResponseAction:
		action := payload.ResponseAction
		if action.ActionId == "" {
			a.logf("ignoring a ResponseAction without action_id")
			return nil
		}
		result, err := a.handleAction(action)
		if err != nil {
			return err
		}
		select {
		case results <- result:
		case <-writerDone: // the stream is failing; the journal resends it next time
		}
	case *pb.ControllerMessage_ResultAck:
		acked, err := a.journal.acked(payload.ResultAck.ActionId)
		if err != nil {
			return err
		}
		if acked {
			a.events.emit("result_acked", map[string]interface{}{"action_id": payload.ResultAck.ActionId})
		}
	case *pb.ControllerMessage_AlertReject:
		// Refused now, refused on every resend: out of the outbox, into the
		// dead-letter file for the operator. The stream goes on.
		r := payload.AlertReject
		a.logf("alert %s revision %d rejected (%s): %s", r.AlertId, r.Revision, r.Reason, r.Detail)
		a.deadLetter(r.AlertId, r.Revision, r.Reason.String(), r.Detail)
	case *pb.ControllerMessage_ResultReject:
		// The controller will never take this result: stop resending it. The
		// journal keeps it, so the action still never runs twice.
		r := payload.ResultReject
		a.logf("result of action %s rejected (%s): %s", r.ActionId, r.Reason, r.Detail)
		rejected, err := a.journal.rejected(r.ActionId)
		if err != nil {
			return err
		}
		if rejected {
			a.events.emit("result_rejected", map[string]interface{}{"action_id": r.ActionId, "reason": r.Reason.String(), "detail": r.Detail})
		}
	case *pb.ControllerMessage_Welcome:
		a.logf("ignoring a second Welcome")
	default:
		// A message this agent does not know (a newer controller): ignore it.
	}
	return nil
}

// write owns stream.Send: unacknowledged results first, then the outbox
// oldest first, then new alerts as the detector adds them, results as
// actions finish, and a Heartbeat every Welcome.heartbeat_interval.
func (a *agent) write(ctx context.Context, stream pb.AgentService_ConnectClient, welcome *pb.Welcome, results <-chan *pb.ActionResult) {
	interval := welcome.GetHeartbeatInterval().AsDuration()
	if interval <= 0 {
		interval = 30 * time.Second
	}
	heartbeat := time.NewTicker(interval)
	defer heartbeat.Stop()
	send := func(message *pb.AgentMessage) bool {
		if err := stream.Send(message); err != nil {
			return false // Recv sees the stream's status and ends the session
		}
		return true
	}
	for _, result := range a.journal.unacked() {
		if !send(&pb.AgentMessage{Payload: &pb.AgentMessage_ActionResult{ActionResult: result}}) {
			return
		}
	}
	sent := map[string]uint32{}
	flush := func() bool {
		for _, alert := range a.outbox.pendingAlerts() {
			if rev, ok := sent[alert.Id]; ok && rev >= alert.Revision {
				continue
			}
			message := &pb.AgentMessage{Payload: &pb.AgentMessage_Alert{Alert: alert}}
			if max := welcome.MaxMessageBytes; max > 0 && proto.Size(message) > int(max) {
				a.deadLetter(alert.Id, alert.Revision, "TOO_LARGE", fmt.Sprintf("%d bytes, above the controller's max_message_bytes %d", proto.Size(message), max))
				continue
			}
			if !send(message) {
				return false
			}
			sent[alert.Id] = alert.Revision
			a.events.emit("alert_sent", map[string]interface{}{"alert_id": alert.Id, "revision": alert.Revision})
		}
		return true
	}
	if !flush() {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
			if !flush() {
				return
			}
		case result := <-results:
			if !send(&pb.AgentMessage{Payload: &pb.AgentMessage_ActionResult{ActionResult: result}}) {
				return
			}
			a.events.emit("result_sent", map[string]interface{}{"action_id": result.ActionId, "status": result.Status.String()})
		case <-heartbeat.C:
			depth := uint32(a.outbox.depth() + len(a.journal.unacked()))
			if !send(&pb.AgentMessage{Payload: &pb.AgentMessage_Heartbeat{Heartbeat: &pb.Heartbeat{SentAt: timestamppb.New(a.now()), OutboxDepth: depth}}}) {
				return
			}
		}
	}
}

// deadLetter moves an alert the controller refuses (or would refuse) out of
// the outbox into dead-letter.jsonl.
func (a *agent) deadLetter(id string, revision uint32, reason, detail string) {
	if err := a.outbox.reject(id, revision, reason, detail, a.now()); err != nil {
		a.logf("dead letter for alert %s: %v", id, err)
		return
	}
	a.events.emit("alert_dead_lettered", map[string]interface{}{"alert_id": id, "revision": revision, "reason": reason, "detail": detail})
}

func (a *agent) logf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "secarc-go-agent: "+format+"\n", args...)
}

// localAddresses are this host's addresses but loopback, for Hello.addresses.
func localAddresses() []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []string
	for _, addr := range addrs {
		if ipnet, ok := addr.(*net.IPNet); ok && !ipnet.IP.IsLoopback() && !ipnet.IP.IsLinkLocalUnicast() {
			out = append(out, ipnet.IP.String())
		}
	}
	return out
}

// statusOf names how a stream ended, with io.EOF (the controller closed the
// stream with OK) as UNAVAILABLE: either way the agent reconnects.
func statusOf(err error) *status.Status {
	if err == nil || errors.Is(err, context.Canceled) {
		return status.New(codes.Canceled, "stopped")
	}
	if s, ok := status.FromError(err); ok {
		return s
	}
	return status.New(codes.Unavailable, err.Error())
}
