#!/usr/bin/python3
"""A stand-in for QEMU whose guest agent is hostile (test_hostile_agent.sh).

podvm runs it with QEMU's command line (PODVM_QEMU=this, PODVM_JAIL=off): it serves QMP
on the -qmp socket just enough for podvm's start, watch and stop, and on the agent's
virtio-serial chardev socket (-chardev socket,id=agent,path=...) it speaks ttrpc the way
FAKE_AGENT_MODE says (or, when that is a path, the file it names, read as the VM starts: a
test changes the mode of VMs that a long-lived containerd starts):

  ok          answers every request as a well-behaved agent whose container exits 0
  oversize    answers the first request with a frame header announcing 1 GiB, then holds
  truncated   answers with half a frame, then closes the connection
  garbage     sends random bytes, endlessly, as fast as it can
  malformed   answers with a well-framed response whose protobuf does not decode
  wrongstream answers on a stream id no request opened
  badstatus   answers with an error whose message is 1 MiB of lines and terminal escapes
  amplify     answers with a 4 MiB response made of a million tiny unknown fields
  silent      reads every request, never answers
  flood       answers every request (as ok), and from the first answer on also sends
              unsolicited response frames, endlessly, as fast as it can

Frames (src/ttrpc/frame.c): a 10-byte header (payload length, stream id: big-endian
uint32; type: 1 request, 2 response, 3 data; flags), then the payload, a ttrpc.Request or
ttrpc.Response (src/proto/ttrpc.proto). Python's standard library only.
"""
import json
import os
import socket
import struct
import sys
import threading

REQUEST, RESPONSE = 1, 2
HEADER = struct.Struct(">IIBB")


# ---- the command line ----

def split_opts(value):
    """QEMU's option syntax: key=value pairs split at commas, a literal comma written ",,"."""
    parts, cur, i = [], "", 0
    while i < len(value):
        if value[i] == "," and value[i + 1:i + 2] == ",":
            cur += ","
            i += 2
        elif value[i] == ",":
            parts.append(cur)
            cur = ""
            i += 1
        else:
            cur += value[i]
            i += 1
    parts.append(cur)
    return parts


def sockets_from(argv):
    """The QMP socket's and the agent chardev's paths."""
    qmp = agent = None
    for opt, value in zip(argv, argv[1:]):
        parts = split_opts(value)
        if opt == "-qmp" and parts[0].startswith("unix:"):
            qmp = parts[0][len("unix:"):]
        elif opt == "-chardev" and parts[0] == "socket" and "id=agent" in parts[1:]:
            agent = next(p[len("path="):] for p in parts[1:] if p.startswith("path="))
    if qmp is None or agent is None:
        sys.exit("fake_vmm: no -qmp unix: socket or no agent chardev socket in the command "
                 "line (a vhost-vsock agent channel? set PODVM_CHANNEL=serial)")
    return qmp, agent


def listen_on(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(8)
    return s


def serve_forever(listener, handle):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


# ---- QMP ----

def qmp_answer(command):
    if command == "query-status":
        return {"status": "running", "running": True}
    return {}


def serve_qmp(conn):
    f = conn.makefile("rwb", buffering=0)
    f.write(b'{"QMP": {"version": {"qemu": {"major": 9, "minor": 0, "micro": 0}}, '
            b'"capabilities": []}}\r\n')
    for line in f:
        try:
            command = json.loads(line).get("execute", "")
        except ValueError:
            continue
        f.write(json.dumps({"return": qmp_answer(command)}).encode() + b"\r\n")
        if command == "quit":
            os._exit(0)


# ---- protobuf, as little as the envelopes need ----

def varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field_bytes(number, data):
    return varint(number << 3 | 2) + varint(len(data)) + data


def field_varint(number, n):
    return varint(number << 3) + varint(n)


def read_varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def request_method(payload):
    """ttrpc.Request's method (field 2), "" when it is not there."""
    i = 0
    try:
        while i < len(payload):
            key, i = read_varint(payload, i)
            if key & 7 == 2:
                length, i = read_varint(payload, i)
                if key >> 3 == 2:
                    return payload[i:i + length].decode(errors="replace")
                i += length
            elif key & 7 == 0:
                _, i = read_varint(payload, i)
            else:
                return ""
    except IndexError:
        pass
    return ""


def ok_response(method):
    """ttrpc.Response for a well-behaved agent: status OK, the method's answer. Empty
    messages decode to their defaults: Ping answered, pid 0, exit status 0, ..."""
    if method in ("ReadOutput", "PortRead"):
        return field_bytes(2, field_varint(2, 1))  # ReadOutputResponse{eof: true}
    return b""


def error_response(code, message):
    return field_bytes(1, field_varint(1, code) + field_bytes(2, message))


# ---- the agent ----

class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.lock = threading.Lock()  # one frame at a time

    def read_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def read_request(self):
        length, stream, kind, _ = HEADER.unpack(self.read_exact(HEADER.size))
        payload = self.read_exact(length)
        return stream, kind, request_method(payload)

    def send(self, data):
        with self.lock:
            self.sock.sendall(data)

    def frame(self, stream, payload, kind=RESPONSE):
        self.send(HEADER.pack(len(payload), stream, kind, 0) + payload)


def hold(conn):
    """Reads whatever comes and never answers."""
    while conn.sock.recv(65536):
        pass


def flood(conn, first_stream):
    """Unsolicited responses: answers again to the first request, and to ones never made."""
    frames = b"".join(HEADER.pack(0, first_stream + 2 * (i % 2), RESPONSE, 0) for i in range(512))
    try:
        while True:
            conn.send(frames)
    except OSError:
        pass  # podvm hung up


def answer_rest(conn, stream, method, start_flood):
    while True:
        conn.frame(stream, ok_response(method))
        if start_flood:
            threading.Thread(target=flood, args=(conn, stream), daemon=True).start()
            start_flood = False
        stream, _, method = conn.read_request()


def misbehave(conn, mode, stream):
    if mode == "oversize":
        conn.send(HEADER.pack(1 << 30, stream, RESPONSE, 0) + b"\0" * 4096)
        hold(conn)
    elif mode == "truncated":
        payload = error_response(2, b"this answer is cut short")
        frame = HEADER.pack(len(payload), stream, RESPONSE, 0) + payload
        conn.send(frame[:len(frame) // 2])
        conn.sock.close()
    elif mode == "garbage":
        while True:
            conn.send(os.urandom(65536))
    elif mode == "malformed":
        conn.frame(stream, b"\xff\xff\xff\xff\xff")
        hold(conn)
    elif mode == "wrongstream":
        conn.frame(stream + 2, ok_response(""))
        hold(conn)
    elif mode == "badstatus":
        line = b"agent says\n\x1b[2J\x1b]0;pwned\x07\r" + b"x" * 100
        conn.frame(stream, error_response(13, (line * ((1 << 20) // len(line)))))
        hold(conn)
    elif mode == "amplify":
        junk = field_varint(15, 0) * ((4 << 20) // 2 - 64)  # unknown field 15, two bytes each
        conn.frame(stream, field_bytes(2, junk))
        hold(conn)
    else:  # silent, or a mode this script does not know: never answer
        hold(conn)


def serve_agent(sock, mode):
    conn = Conn(sock)
    try:
        stream, _, method = conn.read_request()
        if mode in ("ok", "flood"):
            answer_rest(conn, stream, method, mode == "flood")
        else:
            misbehave(conn, mode, stream)
    except (EOFError, OSError):
        pass


def main():
    mode = os.environ.get("FAKE_AGENT_MODE", "silent")
    if mode.startswith("/"):
        with open(mode) as f:
            mode = f.read().strip()
    qmp_path, agent_path = sockets_from(sys.argv[1:])
    agent = listen_on(agent_path)  # first: podvm looks for the QMP socket, then this one
    qmp = listen_on(qmp_path)
    threading.Thread(target=serve_forever, args=(qmp, serve_qmp), daemon=True).start()
    serve_forever(agent, lambda s: serve_agent(s, mode))


if __name__ == "__main__":
    main()
