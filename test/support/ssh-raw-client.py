#!/usr/bin/python3
"""A minimal SSH-2 client for the SSH detector tests (Debian's python3 and
python3-cryptography only): the stock ssh client refuses user names with
control characters ("remote username contains invalid characters"), and
an attacker's client does not. It speaks just enough of RFC 4253/4252 to
reach sshd's user authentication: curve25519-sha256, ssh-ed25519 host key
(not checked: tests only), aes128-ctr, hmac-sha2-256, no compression.

  ssh-raw-client.py HOST PORT password USER PASSWORD TRIES
      one connection, TRIES password attempts as USER (any bytes, given
      with \\n / \\r escapes), then a clean disconnect
  ssh-raw-client.py HOST PORT banner TEXT
      sends TEXT instead of an SSH identification string
  ssh-raw-client.py HOST PORT cipher NAME
      offers only cipher NAME (a mismatch when sshd does not have it)

Prints "port N" (the local port) first, then one line per reply:
"failure", "success", "closed" or "refused".
"""
import hashlib
import hmac
import os
import socket
import struct
import sys

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

VERSION = b"SSH-2.0-secarc_test_1.0"


def string(b):
    return struct.pack(">I", len(b)) + b


def mpint(n):
    b = n.to_bytes((n.bit_length() + 8) // 8, "big") if n else b""
    return string(b)


def namelist(names):
    return string(",".join(names).encode())


class Closed(Exception):
    pass


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.seq_out = 0
        self.seq_in = 0
        self.enc = None
        self.dec = None
        self.mac_out = None
        self.mac_in = None

    def read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed()
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def readline(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed()
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def send(self, payload):
        block = 16 if self.enc else 8
        pad = block - (len(payload) + 5) % block
        if pad < 4:
            pad += block
        packet = struct.pack(">IB", len(payload) + pad + 1, pad) + payload + os.urandom(pad)
        mac = b""
        if self.mac_out:
            mac = hmac.new(self.mac_out, struct.pack(">I", self.seq_out) + packet, hashlib.sha256).digest()
            packet = self.enc.update(packet)
        self.sock.sendall(packet + mac)
        self.seq_out = (self.seq_out + 1) & 0xFFFFFFFF

    def recv(self):
        if self.dec:
            first = self.dec.update(self.read(16))
            length = struct.unpack(">I", first[:4])[0]
            rest = self.dec.update(self.read(length + 4 - 16))
            packet = first + rest
            mac = self.read(32)
            want = hmac.new(self.mac_in, struct.pack(">I", self.seq_in) + packet, hashlib.sha256).digest()
            if not hmac.compare_digest(mac, want):
                raise Closed()
        else:
            head = self.read(5)
            length, _ = struct.unpack(">IB", head)
            packet = head + self.read(length - 1)
        self.seq_in = (self.seq_in + 1) & 0xFFFFFFFF
        pad = packet[4]
        return packet[5 : 4 + struct.unpack(">I", packet[:4])[0] - pad]

    def recv_skipping(self):
        """The next packet that is not IGNORE (2), DEBUG (4), EXT_INFO (7) or a banner (53)."""
        while True:
            p = self.recv()
            if p[0] not in (2, 4, 7, 53):
                return p


def read_string(b, i):
    n = struct.unpack(">I", b[i : i + 4])[0]
    return b[i + 4 : i + 4 + n], i + 4 + n


def kexinit(cipher):
    return (
        bytes([20])
        + os.urandom(16)
        + namelist(["curve25519-sha256", "curve25519-sha256@libssh.org"])
        + namelist(["ssh-ed25519"])
        + namelist([cipher])
        + namelist([cipher])
        + namelist(["hmac-sha2-256"])
        + namelist(["hmac-sha2-256"])
        + namelist(["none"])
        + namelist(["none"])
        + namelist([])
        + namelist([])
        + b"\x00"
        + struct.pack(">I", 0)
    )


def handshake(c, cipher):
    c.sock.sendall(VERSION + b"\r\n")
    while True:
        server_version = c.readline()
        if server_version.startswith(b"SSH-"):
            break
    ours = kexinit(cipher)
    c.send(ours)
    theirs = c.recv_skipping()
    if theirs[0] != 20:
        raise Closed()
    key = X25519PrivateKey.generate()
    q_c = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    c.send(bytes([30]) + string(q_c))
    reply = c.recv_skipping()
    if reply[0] != 31:
        raise Closed()
    k_s, i = read_string(reply, 1)
    q_s, i = read_string(reply, i)
    shared = int.from_bytes(key.exchange(X25519PublicKey.from_public_bytes(q_s)), "big")
    h = hashlib.sha256(
        string(VERSION) + string(server_version) + string(ours) + string(theirs) + string(k_s) + string(q_c) + string(q_s) + mpint(shared)
    ).digest()
    c.send(bytes([21]))
    if c.recv_skipping()[0] != 21:
        raise Closed()

    def derive(letter, size):
        return hashlib.sha256(mpint(shared) + h + letter + h).digest()[:size]

    c.enc = Cipher(algorithms.AES(derive(b"C", 16)), modes.CTR(derive(b"A", 16))).encryptor()
    c.dec = Cipher(algorithms.AES(derive(b"D", 16)), modes.CTR(derive(b"B", 16))).decryptor()
    c.mac_out = derive(b"E", 32)
    c.mac_in = derive(b"F", 32)
    c.send(bytes([5]) + string(b"ssh-userauth"))
    if c.recv_skipping()[0] != 6:
        raise Closed()


def unescape(text):
    return text.replace("\\n", "\n").replace("\\r", "\r").encode("utf-8", "surrogateescape")


def main():
    host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sock = socket.create_connection((host, port), timeout=15)
    print("port", sock.getsockname()[1], flush=True)
    c = Conn(sock)
    try:
        if mode == "banner":
            sock.sendall(unescape(sys.argv[4]) + b"\r\n")
            c.readline()
            c.readline()
            print("closed")
            return
        if mode == "cipher":
            handshake(c, sys.argv[4])
            print("success")
            return
        handshake(c, "aes128-ctr")
        user, password, tries = unescape(sys.argv[4]), unescape(sys.argv[5]), int(sys.argv[6])
        for _ in range(tries):
            c.send(bytes([50]) + string(user) + string(b"ssh-connection") + string(b"password") + b"\x00" + string(password))
            reply = c.recv_skipping()
            print({51: "failure", 52: "success"}.get(reply[0], "other %d" % reply[0]), flush=True)
        c.send(bytes([1]) + struct.pack(">I", 11) + string(b"bye") + string(b""))
    except Closed:
        print("closed")
    except (ConnectionError, socket.timeout):
        print("refused")
    finally:
        sock.close()


if __name__ == "__main__":
    main()
