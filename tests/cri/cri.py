#!/usr/bin/python3
"""A small CRI (Kubernetes Container Runtime Interface, runtime.v1) client for podvm's tests
and benchmarks: it stands in for kubelet against a containerd CRI socket.

The Python stubs are generated from tests/cri/api.proto (next to this file) with Debian's
grpc_tools into --stubs DIR (default $PODVM_CRI_STUBS; if neither is given, a temporary
dir removed on exit) the first time they are needed. The pod configs that RunPodSandbox
was given are kept as JSON in --state DIR (default: the stubs dir), because kubelet passes
the same config again to CreateContainer.

    cri.py --sock SOCK version
    cri.py --sock SOCK run-pod NAME [--runtime-handler H] [--log-dir D] [--host-network]
                                 [--host-pid] [--host-ipc] [--share-pid] [--privileged] -> pod id
    cri.py --sock SOCK pod-status POD                                     -> JSON
    cri.py --sock SOCK create-container POD NAME IMAGE [--log-path F] [--env K=V]...
                                        [--memory B] [--cpu-quota Q] [--cpu-period P]
                                        [--mount HOST:CTR[:ro|rw[:hostToContainer|bidirectional]]]...
                                        [--privileged] [--cap-add CAP]... -- CMD...
                                                                          -> container id
    cri.py --sock SOCK start CID [--then-stop GRACE]
    cri.py --sock SOCK exec-sync CID [--exec-timeout S] -- CMD...
                  stdout/stderr of CMD on ours, exits with CMD's exit code
    cri.py --sock SOCK status CID              -> JSON: state, exitCode, reason, message, logPath, ...
    cri.py --sock SOCK wait-state CID STATE [--within S]   (STATE: CREATED, RUNNING, EXITED)
    cri.py --sock SOCK update CID [--memory B] [--cpu-quota Q] [--cpu-period P] [--cpu-shares S]
    cri.py --sock SOCK stats CID               -> JSON: cpu and memory usage
    cri.py --sock SOCK list-containers [--pod POD]   -> "ID NAME STATE" lines
    cri.py --sock SOCK list-images             -> one repo tag a line
    cri.py --sock SOCK list-pods               -> "ID NAME STATE HANDLER" lines
    cri.py --sock SOCK remove-all-pods         (stops and removes every pod: cleanup)
    cri.py --sock SOCK stop-container CID [--grace S]
    cri.py --sock SOCK remove-container CID
    cri.py --sock SOCK stop-pod POD
    cri.py --sock SOCK remove-pod POD
    cri.py --sock SOCK port-forward POD PORT [--send DATA]
                  PortForward; with --send, the WebSocket streaming protocol over its URL:
                  sends DATA to PORT of the pod, prints the answer until the stream ends
    cri.py --sock SOCK soak CID [--execs N] [--every E] [--every-cmd CMD] [--sample CMD] [--sample-at K]
                  N ExecSync calls (output on both streams) with Update, Stats and CMD every E,
                  with --stream-every S an exec with stdin and one with a TTY (Exec) every S;
                  prints JSON: failures, latencies, the output of CMD at exec K and at the end
    cri.py --sock SOCK pod-start-latency NAME IMAGE --runtime-handler H --log-dir D
                                         [--cgroup-parent P] [--cleanup] [--json] -- CMD...
                  RunPodSandbox + CreateContainer + StartContainer, then waits for the first
                  line of the container's log file; prints the seconds that took (--json: and
                  the time of each step, the ids and the line). --cleanup then stops and
                  removes the pod (not timed).

A failed call prints "cri.py: METHOD: CODE: details" on stderr and exits 1 (exec-sync: 125).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "api.proto")

pb = None       # api_pb2, once loaded
pb_grpc = None  # api_pb2_grpc
grpc = None


def load_stubs(stubs_dir):
    """Generates the stubs into stubs_dir unless they are there already, and imports them."""
    global pb, pb_grpc, grpc
    target = os.path.join(stubs_dir, "api_pb2.py")
    if not os.path.exists(target) or os.path.getmtime(target) < os.path.getmtime(PROTO):
        os.makedirs(stubs_dir, exist_ok=True)
        # Into a private dir first, then renamed: concurrent callers never see half a file.
        work = tempfile.mkdtemp(dir=stubs_dir, prefix=".gen.")
        try:
            r = subprocess.run(["/usr/bin/python3", "-m", "grpc_tools.protoc", "-I" + HERE,
                                "--python_out=" + work, "--grpc_python_out=" + work, PROTO],
                               capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit("cri.py: protoc failed: " + r.stderr.strip())
            for name in ("api_pb2_grpc.py", "api_pb2.py"):
                os.replace(os.path.join(work, name), os.path.join(stubs_dir, name))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    sys.path.insert(0, stubs_dir)
    import grpc as _grpc
    import api_pb2
    import api_pb2_grpc
    grpc, pb, pb_grpc = _grpc, api_pb2, api_pb2_grpc


class Client:
    def __init__(self, sock, timeout, state_dir):
        self.channel = grpc.insecure_channel("unix://" + os.path.abspath(sock))
        self.rt = pb_grpc.RuntimeServiceStub(self.channel)
        self.img = pb_grpc.ImageServiceStub(self.channel)
        self.timeout = timeout
        self.state_dir = state_dir

    def call(self, method, req, stub=None, timeout=None):
        fn = getattr(stub or self.rt, method)
        try:
            return fn(req, timeout=timeout or self.timeout)
        except grpc.RpcError as e:
            raise CriError(method, e.code().name, e.details())

    # -- pod configs, as kubelet keeps them ------------------------------------------------
    def save_pod_config(self, pod_id, cfg):
        from google.protobuf import json_format
        os.makedirs(self.state_dir, exist_ok=True)
        with open(os.path.join(self.state_dir, "pod-%s.json" % pod_id), "w") as f:
            f.write(json_format.MessageToJson(cfg))

    def pod_config(self, pod_id):
        from google.protobuf import json_format
        path = os.path.join(self.state_dir, "pod-%s.json" % pod_id)
        try:
            with open(path) as f:
                return json_format.Parse(f.read(), pb.PodSandboxConfig())
        except FileNotFoundError:
            raise CriError("CreateContainer", "CLIENT", "no saved config for pod %s in %s" % (pod_id, self.state_dir))

    # -- the calls --------------------------------------------------------------------------
    def run_pod(self, name, handler="", log_dir="", namespace="podvm-test", cgroup_parent="", resources=None,
                ns=None, privileged=False):
        cfg = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, namespace=namespace, uid="uid-" + name, attempt=0),
            hostname=name, log_directory=log_dir,
            labels={"podvm-test": "1"},
            linux=pb.LinuxPodSandboxConfig(cgroup_parent=cgroup_parent, resources=resources,
                                           security_context=pb.LinuxSandboxSecurityContext(
                                               namespace_options=ns or KUBELET_NS(), privileged=privileged)))
        if log_dir:
            os.makedirs(log_dir, exist_ok=True)
        r = self.call("RunPodSandbox", pb.RunPodSandboxRequest(config=cfg, runtime_handler=handler))
        self.save_pod_config(r.pod_sandbox_id, cfg)
        return r.pod_sandbox_id

    def create_container(self, pod_id, name, image, cmd, log_path="", envs=(), resources=None, mounts=(),
                         privileged=False, caps=()):
        sandbox_cfg = self.pod_config(pod_id)
        # As kubelet: the containers get the pod's namespace options.
        sc = pb.LinuxContainerSecurityContext(
            namespace_options=sandbox_cfg.linux.security_context.namespace_options, privileged=privileged,
            capabilities=pb.Capability(add_capabilities=list(caps)) if caps else None)
        cfg = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name, attempt=0),
            image=pb.ImageSpec(image=image),
            command=cmd, log_path=log_path,
            envs=[pb.KeyValue(key=k, value=v) for k, v in envs],
            mounts=[pb.Mount(host_path=h, container_path=c, readonly=ro, propagation=prop)
                    for h, c, ro, prop in mounts],
            labels={"podvm-test": "1"},
            linux=pb.LinuxContainerConfig(resources=resources, security_context=sc))
        r = self.call("CreateContainer", pb.CreateContainerRequest(
            pod_sandbox_id=pod_id, config=cfg, sandbox_config=sandbox_cfg))
        return r.container_id

    def status(self, cid):
        return self.call("ContainerStatus", pb.ContainerStatusRequest(container_id=cid)).status

    def remove_pod(self, pod_id):
        self.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
        try:
            os.unlink(os.path.join(self.state_dir, "pod-%s.json" % pod_id))
        except FileNotFoundError:
            pass


def KUBELET_NS():
    # What kubelet asks for a pod without hostNetwork/hostPID/shareProcessNamespace.
    return pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD)


def namespace_options(a):
    """The pod's namespaces from run-pod's flags, as kubelet derives them from the pod spec."""
    return pb.NamespaceOption(network=pb.NODE if a.host_network else pb.POD,
                              pid=pb.NODE if a.host_pid else pb.POD if a.share_pid else pb.CONTAINER,
                              ipc=pb.NODE if a.host_ipc else pb.POD)


class CriError(Exception):
    def __init__(self, method, code, details):
        super().__init__("%s: %s: %s" % (method, code, details))
        self.method, self.code, self.details = method, code, details


def resources_of(a):
    if a.memory is None and a.cpu_quota is None and a.cpu_period is None and a.cpu_shares is None:
        return None
    return pb.LinuxContainerResources(memory_limit_in_bytes=a.memory or 0, cpu_quota=a.cpu_quota or 0,
                                      cpu_period=a.cpu_period or 0, cpu_shares=a.cpu_shares or 0)


def status_json(st):
    lin = st.resources.linux if st.HasField("resources") else None
    return {
        "id": st.id, "name": st.metadata.name, "state": pb.ContainerState.Name(st.state),
        "exitCode": st.exit_code, "reason": st.reason, "message": st.message,
        "logPath": st.log_path, "createdAt": st.created_at, "startedAt": st.started_at,
        "finishedAt": st.finished_at, "image": st.image.image,
        "resources": None if lin is None else {
            "memoryLimitInBytes": lin.memory_limit_in_bytes, "cpuQuota": lin.cpu_quota,
            "cpuPeriod": lin.cpu_period, "cpuShares": lin.cpu_shares},
    }


def wait_first_line(path, deadline):
    """Waits until the log file holds a complete line; returns that line."""
    while time.monotonic() < deadline:
        try:
            with open(path, "rb") as f:
                data = f.read(65536)
            if b"\n" in data:
                return data.split(b"\n", 1)[0].decode(errors="replace")
        except FileNotFoundError:
            pass
        time.sleep(0.005)
    return None


def ws_frame(payload):
    """A masked binary WebSocket frame (RFC 6455), as a client sends it."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x82]) + (bytes([0x80 | n]) if n < 126 else
                            bytes([0x80 | 126]) + n.to_bytes(2, "big") if n < 65536 else
                            bytes([0x80 | 127]) + n.to_bytes(8, "big"))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_read_frame(sock):
    """(opcode, payload) of the next frame; (None, b"") at the end of the connection."""
    def exactly(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf
    try:
        b0, b1 = exactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(exactly(2), "big")
        elif n == 127:
            n = int.from_bytes(exactly(8), "big")
        mask = exactly(4) if b1 & 0x80 else None
        data = exactly(n)
    except (EOFError, OSError):
        return None, b""
    if mask:
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return b0 & 0x0F, data


def ws_open(c, url, query=""):
    """A WebSocket to a streaming URL (v4.channel.k8s.io): the socket, or None with the
    server's answer on stderr."""
    import base64, socket, urllib.parse
    u = urllib.parse.urlparse(url)
    sock = socket.create_connection((u.hostname, u.port), timeout=c.timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    q = "&".join(x for x in (u.query, query) if x)
    sock.sendall(("GET %s%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n"
                  % (u.path, "?" + q if q else "", u.netloc, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            break
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        print("cri.py: no WebSocket upgrade: %s" % head.decode(errors="replace").strip(), file=sys.stderr)
        sock.close()
        return None
    return sock


def ws_channels(sock, skip_port=False):
    """Reads frames until the stream ends: {channel: bytes}. skip_port: each channel starts
    with its port, 2 bytes (port forwarding)."""
    got, seen = {}, set()
    while True:
        op, data = ws_read_frame(sock)
        if op is None or op == 8:
            return got
        if op not in (1, 2) or not data:
            continue
        channel, data = data[0], data[1:]
        if skip_port and channel not in seen:
            seen.add(channel)
            data = data[2:]
        got[channel] = got.get(channel, b"") + data


def ws_exec(c, cid, cmd, stdin=None, tty=False):
    """What kubectl exec does: Exec, then its stream. (stdout, stderr, status JSON)."""
    url = c.call("Exec", pb.ExecRequest(container_id=cid, cmd=cmd, tty=tty, stdin=stdin is not None,
                                        stdout=True, stderr=not tty)).url
    sock = ws_open(c, url)
    if sock is None:
        return b"", b"", b"no stream"
    if stdin:
        sock.sendall(ws_frame(b"\x00" + stdin))
    got = ws_channels(sock)
    sock.close()
    return got.get(1, b""), got.get(2, b""), got.get(3, b"")


def cmd_port_forward(c, a):
    """PortForward, then what kubectl port-forward does over the URL it returns: the
    WebSocket form of the streaming protocol (v4.channel.k8s.io: channel 0 the data, 1 the
    errors, each starting with the port), sends --send and prints what comes back until
    the stream ends."""
    url = c.call("PortForward", pb.PortForwardRequest(pod_sandbox_id=a.pod, port=[a.port])).url
    if a.send is None:
        print(url)
        return 0
    sock = ws_open(c, url, "port=%d" % a.port)
    if sock is None:
        return 1
    sock.sendall(ws_frame(b"\x00" + a.send.encode().decode("unicode_escape").encode("latin-1")))
    got = ws_channels(sock, skip_port=True)
    sys.stdout.buffer.write(got.get(0, b""))
    if got.get(1):
        print("cri.py: port-forward: %s" % got[1].decode(errors="replace"), file=sys.stderr)
        return 1
    return 0


def stream_execs(c, a, i, failures):
    """One exec with stdin and one with a terminal, as kubectl exec -i / -it make them."""
    word = b"in%05d" % i
    out, err, status = ws_exec(c, a.cid, ["head", "-c", str(len(word))], stdin=word)
    if out != word or b"Success" not in status:
        failures.append("stdin exec %d: out %r err %r status %r" % (i, out[:80], err[:80], status[:200]))
    out, _, status = ws_exec(c, a.cid, ["sh", "-c", "test -t 0 && test -t 1 && echo tty %d" % i], stdin=b"", tty=True)
    if out.replace(b"\r", b"") != b"tty %d\n" % i or b"Success" not in status:
        failures.append("tty exec %d: out %r status %r" % (i, out[:80], status[:200]))


def cmd_soak(c, a):
    """What a pod's exec probes do for days, in a few minutes: --execs ExecSync calls with
    output on stdout and stderr, with an UpdateContainerResources, a ContainerStats and
    --every-cmd (e.g. `ctr task ps`, containerd's Pids) every --every execs, and --sample run
    after exec --sample-at and at the end. Prints JSON: counts, failures (the first few),
    latencies, the samples' output."""
    lat, failures, samples = [], [], {}
    res = pb.LinuxContainerResources(cpu_shares=512, memory_limit_in_bytes=512 << 20)
    for i in range(1, a.execs + 1):
        t0 = time.monotonic()
        try:
            r = c.call("ExecSync", pb.ExecSyncRequest(container_id=a.cid, timeout=30,
                                                      cmd=["sh", "-c", "echo out %d; echo err %d >&2" % (i, i)]),
                       timeout=60)
            ok = r.exit_code == 0 and r.stdout == b"out %d\n" % i and r.stderr == b"err %d\n" % i
            if not ok:
                failures.append("exec %d: exit %d, stdout %r, stderr %r" % (i, r.exit_code, r.stdout[:80], r.stderr[:80]))
        except CriError as e:
            failures.append("exec %d: %s" % (i, e))
        lat.append(time.monotonic() - t0)
        if a.every and i % a.every == 0:
            try:
                c.call("UpdateContainerResources", pb.UpdateContainerResourcesRequest(container_id=a.cid, linux=res))
                c.call("ContainerStats", pb.ContainerStatsRequest(container_id=a.cid))
            except CriError as e:
                failures.append("after exec %d: %s" % (i, e))
            if a.every_cmd and subprocess.run(a.every_cmd, shell=True, capture_output=True).returncode != 0:
                failures.append("after exec %d: %s failed" % (i, a.every_cmd))
        if a.stream_every and i % a.stream_every == 0:
            stream_execs(c, a, i, failures)
        if a.sample and i == a.sample_at:
            samples["at"] = subprocess.run(a.sample, shell=True, capture_output=True, text=True).stdout.strip()
    if a.sample:
        samples["end"] = subprocess.run(a.sample, shell=True, capture_output=True, text=True).stdout.strip()
    lat.sort()
    print(json.dumps({"execs": a.execs, "failed": len(failures), "failures": failures[:5],
                      "median_ms": round(1000 * lat[len(lat) // 2]), "p99_ms": round(1000 * lat[len(lat) * 99 // 100]),
                      "max_ms": round(1000 * lat[-1]), "samples": samples}))
    return 0 if not failures else 1


def cmd_pod_start_latency(c, a):
    log_name = a.name + ".log"
    log_file = os.path.join(a.log_dir, log_name)
    t0 = time.monotonic()
    pod = c.run_pod(a.name, a.runtime_handler, a.log_dir, cgroup_parent=a.cgroup_parent)
    t1 = time.monotonic()
    cid = c.create_container(pod, a.name, a.image, a.cmd, log_path=log_name)
    t2 = time.monotonic()
    c.call("StartContainer", pb.StartContainerRequest(container_id=cid))
    t3 = time.monotonic()
    line = wait_first_line(log_file, t0 + c.timeout)
    dt = time.monotonic() - t0
    phases = {"runPodSandbox": t1 - t0, "createContainer": t2 - t1, "startContainer": t3 - t2,
              "firstLine": t0 + dt - t3}
    if a.cleanup:
        c.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=pod))
        c.remove_pod(pod)
    if line is None:
        print("cri.py: pod-start-latency: no line in %s after %.0f s" % (log_file, dt), file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps({"seconds": dt, "phases": phases, "pod": pod, "container": cid, "firstLine": line}))
    else:
        print("%.4f" % dt)
    return 0


def run(c, a):
    cmd = a.command
    if cmd == "version":
        r = c.call("Version", pb.VersionRequest(version="v1"))
        print(r.runtime_name, r.runtime_version, r.runtime_api_version)
    elif cmd == "run-pod":
        print(c.run_pod(a.name, a.runtime_handler, a.log_dir, cgroup_parent=a.cgroup_parent,
                        resources=resources_of(a), ns=namespace_options(a), privileged=a.privileged))
    elif cmd == "pod-status":
        r = c.call("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=a.pod))
        st = r.status
        print(json.dumps({"id": st.id, "state": pb.PodSandboxState.Name(st.state), "ip": st.network.ip,
                          "runtimeHandler": st.runtime_handler, "name": st.metadata.name}))
    elif cmd == "create-container":
        envs = [e.split("=", 1) for e in a.env]
        mounts = []
        props = {"": pb.PROPAGATION_PRIVATE, "hostToContainer": pb.PROPAGATION_HOST_TO_CONTAINER,
                 "bidirectional": pb.PROPAGATION_BIDIRECTIONAL}
        for m in a.mount:  # HOST:CONTAINER[:ro|rw[:PROPAGATION]], as kubelet binds volumes
            parts = m.split(":") + ["", ""]
            mounts.append((parts[0], parts[1], parts[2] == "ro", props[parts[3]]))
        print(c.create_container(a.pod, a.name, a.image, a.cmd, a.log_path, envs, resources_of(a), mounts,
                                 a.privileged, a.cap_add))
    elif cmd == "start":
        c.call("StartContainer", pb.StartContainerRequest(container_id=a.cid))
        if a.then_stop is not None:  # as kubelet, for a pod deleted while it starts
            c.call("StopContainer", pb.StopContainerRequest(container_id=a.cid, timeout=a.then_stop),
                   timeout=c.timeout + a.then_stop)
    elif cmd == "exec-sync":
        t = a.exec_timeout
        try:
            r = c.call("ExecSync", pb.ExecSyncRequest(container_id=a.cid, cmd=a.cmd, timeout=t),
                       timeout=t + 30 if t else None)
        except CriError as e:
            print("cri.py: %s" % e, file=sys.stderr)
            return 125
        sys.stdout.buffer.write(r.stdout)
        sys.stdout.flush()
        sys.stderr.buffer.write(r.stderr)
        return r.exit_code
    elif cmd == "status":
        print(json.dumps(status_json(c.status(a.cid))))
    elif cmd == "wait-state":
        want = "CONTAINER_" + a.state.upper()
        deadline = time.monotonic() + a.within
        while True:
            st = c.status(a.cid)
            if pb.ContainerState.Name(st.state) == want:
                print(json.dumps(status_json(st)))
                return 0
            if time.monotonic() > deadline:
                print("cri.py: %s is %s after %g s, not %s" % (a.cid, pb.ContainerState.Name(st.state),
                                                              a.within, want), file=sys.stderr)
                return 1
            time.sleep(0.1)
    elif cmd == "update":
        c.call("UpdateContainerResources", pb.UpdateContainerResourcesRequest(
            container_id=a.cid, linux=resources_of(a) or pb.LinuxContainerResources()))
    elif cmd == "stats":
        s = c.call("ContainerStats", pb.ContainerStatsRequest(container_id=a.cid)).stats
        print(json.dumps({
            "id": s.attributes.id,
            "cpu": {"timestamp": s.cpu.timestamp,
                    "usageCoreNanoSeconds": s.cpu.usage_core_nano_seconds.value
                    if s.cpu.HasField("usage_core_nano_seconds") else None},
            "memory": {"timestamp": s.memory.timestamp,
                       "workingSetBytes": s.memory.working_set_bytes.value
                       if s.memory.HasField("working_set_bytes") else None,
                       "usageBytes": s.memory.usage_bytes.value if s.memory.HasField("usage_bytes") else None},
        }))
    elif cmd == "list-containers":
        f = pb.ContainerFilter(pod_sandbox_id=a.pod or "")
        for ct in c.call("ListContainers", pb.ListContainersRequest(filter=f)).containers:
            print(ct.id, ct.metadata.name, pb.ContainerState.Name(ct.state))
    elif cmd == "list-images":
        for im in c.call("ListImages", pb.ListImagesRequest(), stub=c.img).images:
            for tag in im.repo_tags:
                print(tag)
    elif cmd == "stop-container":
        c.call("StopContainer", pb.StopContainerRequest(container_id=a.cid, timeout=a.grace),
               timeout=c.timeout + a.grace)
    elif cmd == "remove-container":
        c.call("RemoveContainer", pb.RemoveContainerRequest(container_id=a.cid))
    elif cmd == "stop-pod":
        c.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=a.pod))
    elif cmd == "remove-pod":
        c.remove_pod(a.pod)
    elif cmd == "list-pods":
        for p in c.call("ListPodSandbox", pb.ListPodSandboxRequest()).items:
            print(p.id, p.metadata.name, pb.PodSandboxState.Name(p.state), p.runtime_handler)
    elif cmd == "remove-all-pods":
        # Cleanup, as kubelet does for pods it no longer wants: stop, then remove, each pod.
        rc = 0
        for p in c.call("ListPodSandbox", pb.ListPodSandboxRequest()).items:
            try:
                c.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=p.id))
                c.remove_pod(p.id)
            except CriError as e:
                print("cri.py: %s" % e, file=sys.stderr)
                rc = 1
        return rc
    elif cmd == "pod-start-latency":
        return cmd_pod_start_latency(c, a)
    elif cmd == "port-forward":
        return cmd_port_forward(c, a)
    elif cmd == "soak":
        return cmd_soak(c, a)
    return 0


def parser():
    p = argparse.ArgumentParser(prog="cri.py", description="CRI test client (stands in for kubelet)")
    p.add_argument("--sock", required=True, help="containerd's gRPC socket")
    p.add_argument("--timeout", type=float, default=120, help="seconds per call (default 120)")
    p.add_argument("--stubs", default=os.environ.get("PODVM_CRI_STUBS"),
                   help="where the generated stubs go (default $PODVM_CRI_STUBS, else a temp dir)")
    p.add_argument("--state", help="where pod configs are kept (default: the stubs dir)")
    sub = p.add_subparsers(dest="command", required=True)

    def res_opts(sp):
        sp.add_argument("--memory", type=int, help="memory limit, bytes")
        sp.add_argument("--cpu-quota", type=int)
        sp.add_argument("--cpu-period", type=int)
        sp.add_argument("--cpu-shares", type=int)

    sub.add_parser("version")
    sp = sub.add_parser("run-pod")
    sp.add_argument("name")
    sp.add_argument("--runtime-handler", default="")
    sp.add_argument("--log-dir", default="")
    sp.add_argument("--cgroup-parent", default="")
    sp.add_argument("--host-network", action="store_true")
    sp.add_argument("--host-pid", action="store_true")
    sp.add_argument("--host-ipc", action="store_true")
    sp.add_argument("--share-pid", action="store_true", help="shareProcessNamespace: true")
    sp.add_argument("--privileged", action="store_true")
    res_opts(sp)  # the pod's resources (the sum of its containers'), as kubelet sends them
    sp = sub.add_parser("pod-status")
    sp.add_argument("pod")
    sp = sub.add_parser("create-container")
    sp.add_argument("pod")
    sp.add_argument("name")
    sp.add_argument("image")
    sp.add_argument("--log-path", default="", help="relative to the pod's log dir")
    sp.add_argument("--env", action="append", default=[], help="K=V")
    sp.add_argument("--mount", action="append", default=[],
                    help="HOST:CONTAINER[:ro|rw[:hostToContainer|bidirectional]]")
    sp.add_argument("--privileged", action="store_true")
    sp.add_argument("--cap-add", action="append", default=[], help="a capability, e.g. NET_ADMIN")
    res_opts(sp)
    sp = sub.add_parser("start")
    sp.add_argument("cid")
    sp.add_argument("--then-stop", type=int, metavar="GRACE", help="StopContainer right after, in the same client")
    for name in ("status", "stats", "remove-container"):
        sub.add_parser(name).add_argument("cid")
    sp = sub.add_parser("exec-sync")
    sp.add_argument("cid")
    sp.add_argument("--exec-timeout", type=int, default=60, help="CRI timeout of the command, seconds")
    sp = sub.add_parser("wait-state")
    sp.add_argument("cid")
    sp.add_argument("state", choices=["created", "running", "exited", "unknown",
                                      "CREATED", "RUNNING", "EXITED", "UNKNOWN"])
    sp.add_argument("--within", type=float, default=60)
    sp = sub.add_parser("update")
    sp.add_argument("cid")
    res_opts(sp)
    sp = sub.add_parser("list-containers")
    sp.add_argument("--pod")
    sub.add_parser("list-images")
    sub.add_parser("list-pods")
    sub.add_parser("remove-all-pods")
    sp = sub.add_parser("stop-container")
    sp.add_argument("cid")
    sp.add_argument("--grace", type=int, default=10, help="seconds before SIGKILL")
    for name in ("stop-pod", "remove-pod"):
        sub.add_parser(name).add_argument("pod")
    sp = sub.add_parser("port-forward")
    sp.add_argument("pod")
    sp.add_argument("port", type=int)
    sp.add_argument("--send", help="send this (\\r\\n escapes allowed) and print the answer")
    sp = sub.add_parser("soak")
    sp.add_argument("cid")
    sp.add_argument("--execs", type=int, default=5000)
    sp.add_argument("--every", type=int, default=50, help="Update, Stats and --every-cmd every N execs")
    sp.add_argument("--every-cmd", help="a shell command run every --every execs (e.g. ctr task ps)")
    sp.add_argument("--sample", help="a shell command whose output is kept, at --sample-at and at the end")
    sp.add_argument("--sample-at", type=int, default=100)
    sp.add_argument("--stream-every", type=int, default=0,
                    help="every N execs, one exec with stdin and one with a TTY (CRI Exec's stream)")
    sp = sub.add_parser("pod-start-latency")
    sp.add_argument("name")
    sp.add_argument("image")
    sp.add_argument("--runtime-handler", default="")
    sp.add_argument("--log-dir", required=True)
    sp.add_argument("--cgroup-parent", default="")
    sp.add_argument("--cleanup", action="store_true", help="stop and remove the pod afterwards")
    sp.add_argument("--json", action="store_true", help="print JSON with the ids and the first line")
    return p


def main(argv):
    # Everything after the first "--" is the command to run, taken as is.
    cmd = []
    if "--" in argv:
        i = argv.index("--")
        argv, cmd = argv[:i], argv[i + 1:]
    a = parser().parse_args(argv)
    a.cmd = cmd
    tmp = None
    stubs = a.stubs
    if not stubs:
        stubs = tmp = tempfile.mkdtemp(prefix="cri-stubs.")
    try:
        load_stubs(stubs)
        c = Client(a.sock, a.timeout, a.state or stubs)
        try:
            return run(c, a)
        except CriError as e:
            print("cri.py: %s" % e, file=sys.stderr)
            return 1
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
