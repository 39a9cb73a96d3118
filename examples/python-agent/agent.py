#!/usr/bin/python3
"""A minimal SecARC agent in Python: the protocol from any language.

Opens the AgentService.Connect stream with mutual TLS, says Hello, waits for
the Welcome, sends one SSH-session Alert (a new UUIDv7 id, revision 1), waits
for its AlertAck and prints one JSON line:

    {"welcome": {...}, "acked": "<alert id>"}

Exits 0 on success; on any failure or timeout prints a message on standard
error and exits 1 (2 for bad arguments). Needs only the standard library,
grpcio and protobuf (Debian: python3-grpcio, python3-protobuf) and the stubs
generated into gen/ (see README.md).
"""

import argparse
import json
import os
import queue
import secrets
import socket
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "gen"))

try:
    import grpc
    from google.protobuf import json_format
    from secarc.v1 import action_pb2, agent_service_pb2, agent_service_pb2_grpc, alert_pb2
except ImportError as err:  # pragma: no cover - exercised by hand
    sys.stderr.write(
        f"agent.py: {err}\n"
        "Generate the stubs first (from the repository root):\n"
        "  npx buf generate --template examples/python-agent/buf.gen.yaml -o examples/python-agent\n"
        "and run with Debian's /usr/bin/python3 (python3-grpcio, python3-protobuf).\n"
    )
    sys.exit(1)

VERSION = "python-example 0.1.0"


class AgentFailure(Exception):
    """A failure with a message for the operator."""


def uuid7() -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits."""
    value = bytearray((time.time_ns() // 1_000_000).to_bytes(6, "big"))
    value += secrets.token_bytes(10)
    value[6] = 0x70 | (value[6] & 0x0F)
    value[8] = 0x80 | (value[8] & 0x3F)
    return str(uuid.UUID(bytes=bytes(value)))


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Send one alert to a SecARC controller and wait for its ack.")
    parser.add_argument("--target", required=True, help="controller address, host:port")
    parser.add_argument("--ca", required=True, help="the SecARC CA certificate (ca.pem)")
    parser.add_argument("--cert", required=True, help="this agent's certificate (agents/NAME.pem)")
    parser.add_argument("--key", required=True, help="this agent's private key (agents/NAME-key.pem)")
    parser.add_argument("--agent-id", required=True, help="this agent's id: the NAME in its certificate")
    parser.add_argument("--server-name", help="the name to expect in the controller's certificate (default: the host in --target)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for Welcome and AlertAck (default 10)")
    return parser.parse_args(argv)


def read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise AgentFailure(f"cannot read {path}: {err.strerror}") from err


def make_alert(alert_id: str) -> alert_pb2.Alert:
    alert = alert_pb2.Alert(
        id=alert_id,
        revision=1,
        kind=alert_pb2.ALERT_KIND_SSH_SESSION,
        severity=alert_pb2.SEVERITY_INFO,
        state=alert_pb2.ALERT_STATE_OPEN,
        summary="SSH login of alice from 192.0.2.10 (publickey), sent by the Python example agent",
        answers=[action_pb2.ANSWER_ALLOW, action_pb2.ANSWER_CLOSE_SESSION],
        ssh_session=alert_pb2.SshSession(user="alice", source_ip="192.0.2.10", source_port=50022, auth_method="publickey", sshd_pid=4242),
    )
    alert.detected_at.GetCurrentTime()
    alert.updated_at.CopyFrom(alert.detected_at)
    return alert


def run(args) -> dict:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca),
        private_key=read(args.key),
        certificate_chain=read(args.cert),
    )
    options = [("grpc.ssl_target_name_override", args.server_name)] if args.server_name else []
    outgoing: "queue.Queue[agent_service_pb2.AgentMessage | None]" = queue.Queue()

    def requests():
        while True:
            message = outgoing.get()
            if message is None:
                return
            yield message

    outgoing.put(
        agent_service_pb2.AgentMessage(
            hello=agent_service_pb2.Hello(
                agent_id=args.agent_id,
                agent_version=VERSION,
                hostname=socket.gethostname(),
                detectors=[alert_pb2.ALERT_KIND_SSH_SESSION],
            )
        )
    )
    alert_id = uuid7()
    welcome = None
    with grpc.secure_channel(args.target, credentials, options=options) as channel:
        stub = agent_service_pb2_grpc.AgentServiceStub(channel)
        call = stub.Connect(requests(), timeout=args.timeout)
        try:
            for message in call:
                payload = message.WhichOneof("payload")
                if payload == "welcome" and welcome is None:
                    welcome = json_format.MessageToDict(message.welcome, preserving_proto_field_name=True)
                    outgoing.put(agent_service_pb2.AgentMessage(alert=make_alert(alert_id)))
                elif payload == "alert_ack" and message.alert_ack.alert_id == alert_id:
                    if message.alert_ack.revision != 1:
                        raise AgentFailure(f"AlertAck for revision {message.alert_ack.revision}, expected 1")
                    return {"welcome": welcome, "acked": alert_id}
            raise AgentFailure("the controller ended the stream before acknowledging the alert")
        except grpc.RpcError as err:
            code = err.code()
            stage = "AlertAck" if welcome is not None else "Welcome"
            raise AgentFailure(f"stream failed while waiting for {stage}: {code.name if code else 'UNKNOWN'}: {err.details()}") from err
        finally:
            outgoing.put(None)
            call.cancel()


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        result = run(args)
    except AgentFailure as err:
        sys.stderr.write(f"agent.py: {err}\n")
        return 1
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
