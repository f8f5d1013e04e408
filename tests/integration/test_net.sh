#!/bin/bash
# podvm run --network: real CNI plugins (Debian's bridge, host-local, portmap) on bridges of
# this test's own (unique names and subnets, config dir and IPAM state under its temp dir,
# given to podvm as CNI_CONF_DIR), real guests. Two containers on one bridge talk ping and
# TCP; a container reaches a server on the host; the host reaches a published port; a
# dual-stack network gives the guest IPv4 and IPv6; a 1400-MTU network reaches the guest's
# eth0; --network none is loopback only; bad networks and failed starts leave nothing
# (no netns, tap, veth, IP allocation, iptables rule or state).
. "$(dirname "$0")/lib.sh"
IMG=$FIX/oci
SUFFIX=${TMP##*.}
TAG=$(printf '%s' "$SUFFIX" | md5sum | cut -c1-8)
export CNI_CONF_DIR=$TMP/cni
IPAM=$TMP/ipam
mkdir -p "$CNI_CONF_DIR" "$TMP/shared"
BR4=pvn4$TAG BR6=pvn6$TAG BRM=pvnm$TAG BRX=pvnx$TAG BRY=pvny$TAG BRZ=pvnz$TAG  # 12 chars
BRIDGES="$BR4 $BR6 $BRM $BRX $BRY $BRZ"
NET4=net4-$SUFFIX NET6=net6-$SUFFIX NETM=mtu-$SUFFIX

# Private /24s in 10.0.0.0/8 that no route of this host covers, distinct from those given.
pick_subnet() {
	local i net
	for i in $(seq 50); do
		net=10.$((150 + RANDOM % 50)).$((RANDOM % 256))
		case " $* " in *" $net "*) continue ;; esac
		ip -4 route show | grep -q "^$net\." || { echo "$net"; return 0; }
	done
	return 1
}
S4=$(pick_subnet)
S6=$(pick_subnet "$S4")
SM=$(pick_subnet "$S4" "$S6")
SX=$(pick_subnet "$S4" "$S6" "$SM")
SY=$(pick_subnet "$S4" "$S6" "$SM" "$SX")
SZ=$(pick_subnet "$S4" "$S6" "$SM" "$SX" "$SY")
P6=fd42:1${TAG:0:3}:  # a ULA /64 of its own (no leading zero: as `ip` prints it)
HOST_LINKS_BEFORE=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort)
HOSTPORT_CHAINS_BEFORE=$(iptables -t nat -S CNI-HOSTPORT-DNAT >/dev/null 2>&1 && echo yes || echo no)
DN_CHAINS_BEFORE=$(iptables -t nat -S | grep -c '^-N CNI-DN-')
IPV6_FORWARDING_BEFORE=$(cat /proc/sys/net/ipv6/conf/all/forwarding)

# bridge_conf NAME BRIDGE RANGES ROUTES [EXTRA_BRIDGE_KEYS] [EXTRA_PLUGINS]
bridge_conf() {
	cat >"$CNI_CONF_DIR/$1.conflist" <<EOC
{
  "cniVersion": "1.0.0",
  "name": "$1",
  "plugins": [{
    "type": "bridge", "bridge": "$2", "isGateway": true, "ipMasq": false ${5:-},
    "ipam": {"type": "host-local", "dataDir": "$IPAM", "ranges": [$3], "routes": [$4]}
  }${6:-}]
}
EOC
}
bridge_conf "$NET4" "$BR4" "[{\"subnet\": \"$S4.0/24\"}]" '{"dst": "0.0.0.0/0"}' "" \
	', {"type": "portmap", "capabilities": {"portMappings": true}}'
bridge_conf "$NET6" "$BR6" "[{\"subnet\": \"$S6.0/24\"}], [{\"subnet\": \"$P6:/64\"}]" \
	'{"dst": "0.0.0.0/0"}, {"dst": "::/0"}'
bridge_conf "$NETM" "$BRM" "[{\"subnet\": \"$SM.0/24\"}]" '{"dst": "0.0.0.0/0"}' ', "mtu": 1400'
# A network whose IPAM config is wrong (the range starts outside its subnet), one whose
# second plugin does not exist, and a single-plugin .conf file.
bridge_conf "badrange-$SUFFIX" "$BRX" "[{\"subnet\": \"$SX.0/24\", \"rangeStart\": \"$S4.5\"}]" '{"dst": "0.0.0.0/0"}'
bridge_conf "noplugin-$SUFFIX" "$BRY" "[{\"subnet\": \"$SY.0/24\"}]" '{"dst": "0.0.0.0/0"}' "" \
	', {"type": "no-such-plugin-'"$SUFFIX"'"}'
cat >"$CNI_CONF_DIR/50-single.conf" <<EOC
{"cniVersion": "0.4.0", "name": "single-$SUFFIX", "type": "bridge", "bridge": "$BRZ", "isGateway": true,
 "ipam": {"type": "host-local", "dataDir": "$IPAM", "ranges": [[{"subnet": "$SZ.0/24"}]]}}
EOC

# portmap's per-container rules of this test (a killed run may leave them), then its
# shared chains if this test made them; bridges; the IPv6 forwarding the bridge plugin set.
remove_portmap_rules() {
	local rule chain
	iptables -t nat -S CNI-HOSTPORT-DNAT 2>/dev/null | grep -- "-$SUFFIX" | while read -r rule; do
		chain=$(printf '%s\n' "$rule" | sed -n 's/.* -j \(CNI-DN-[0-9a-f]*\).*/\1/p')
		eval "iptables -t nat ${rule/-A /-D }"
		[ -n "$chain" ] && iptables -t nat -F "$chain" && iptables -t nat -X "$chain"
	done
	[ "$HOSTPORT_CHAINS_BEFORE" = no ] || return 0
	[ -z "$(iptables -t nat -S CNI-HOSTPORT-DNAT 2>/dev/null | grep '^-A')" ] || return 0
	iptables -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT 2>/dev/null
	iptables -t nat -D OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT 2>/dev/null
	iptables -t nat -D POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ 2>/dev/null
	for chain in CNI-HOSTPORT-DNAT CNI-HOSTPORT-MASQ CNI-HOSTPORT-SETMARK; do
		iptables -t nat -F "$chain" 2>/dev/null && iptables -t nat -X "$chain" 2>/dev/null
	done
	return 0
}

net_cleanup() {
	cleanup_tmp
	remove_portmap_rules
	local b
	for b in $BRIDGES; do ip link del "$b" 2>/dev/null; done
	echo "$IPV6_FORWARDING_BEFORE" >/proc/sys/net/ipv6/conf/all/forwarding
	return 0
}
trap net_cleanup EXIT

# What a network may leave: veths on the bridges, taps, IP allocations, portmap rules; then
# lib.sh's state, rootfs, VMM, mount (the netns is mounted in the state dir) checks.
net_leftovers() {
	local found="" b alloc
	for b in $BRIDGES; do
		[ -n "$(ip -o link show master "$b" 2>/dev/null)" ] && found="$found veth-on-$b"
	done
	ip -o link show | grep -q pvtap && found="$found tap"
	alloc=$(find "$IPAM" -type f ! -name lock ! -name 'last_reserved_ip*' 2>/dev/null)
	[ -n "$alloc" ] && found="$found ipam:$alloc"
	iptables -t nat -S | grep -q -- "-$SUFFIX" && found="$found iptables-rule"
	[ "$(iptables -t nat -S | grep -c '^-N CNI-DN-')" -gt "$DN_CHAINS_BEFORE" ] && found="$found iptables-chain"
	[ -z "$found" ]
	t_result "no network leftovers after: $1" $? "$found"
	leftovers "$1"
}

# ipv4_of FILE: the address an `ip -o -4 addr show dev eth0` line in FILE shows.
ipv4_of() { sed -n 's/.*eth0 *inet \([0-9.]*\)\/.*/\1/p' "$1" | head -1; }

# ---- no network ----
links() { "$PODVM" run "$@" "$IMG" ip -o link 2>&1 | awk -F': ' '{print $2}' | tr '\n' ' '; }
expect_eq "no --network: loopback only" "lo " "$(links)"
expect_eq "--network none: loopback only" "lo " "$(links --network none)"
leftovers "--network none"

# ---- two containers on one bridge: ping and TCP between them, and to the host ----
HOST_PORT_IN=$((20000 + RANDOM % 10000))
timeout 90 busybox nc -l -p "$HOST_PORT_IN" >"$TMP/host.got" 2>&1 &
host_nc=$!
# A serves TCP once; B waits for A's address (a shared volume), pings it, sends it a line,
# then sends one to the host's end of the bridge. Both boot at once.
"$PODVM" run --network "$NET4" -v "$TMP/shared:/shared" "$IMG" sh -c \
	'ip -o -4 addr show dev eth0 > /shared/a.tmp; mv /shared/a.tmp /shared/a; nc -l -p 5000' \
	>"$TMP/a.out" 2>&1 &
pid_a=$!
"$PODVM" run --network "$NET4" -v "$TMP/shared:/shared" "$IMG" sh -c '
	ip -o -4 addr show dev eth0
	for i in $(seq 600); do [ -s /shared/a ] && break; sleep 0.1; done
	a=$(sed -n "s/.*inet \([0-9.]*\)\/.*/\1/p" /shared/a)
	ping -c 2 -W 10 "$a" >/dev/null && echo ping-ok
	for i in $(seq 20); do echo hello-from-b | nc -w 5 "$a" 5000 && break; sleep 0.3; done
	gw=$(ip route | sed -n "s/^default via \([0-9.]*\).*/\1/p")
	for i in $(seq 20); do echo hello-host-from-pod | nc -w 5 "$gw" '"$HOST_PORT_IN"' && break; sleep 0.3; done
	echo b-done' >"$TMP/b.out" 2>&1 &
pid_b=$!
wait $pid_b
rc_b=$?
timeout 30 tail --pid=$pid_a -f /dev/null
kill $pid_a 2>/dev/null
wait $pid_a
rc_a=$?
timeout 10 tail --pid=$host_nc -f /dev/null
kill $host_nc 2>/dev/null
wait $host_nc 2>/dev/null
ip_a=$(ipv4_of "$TMP/shared/a")
ip_b=$(ipv4_of "$TMP/b.out")
[ "$rc_a" = 0 ] && [ "$rc_b" = 0 ] && grep -q b-done "$TMP/b.out"
t_result "two containers on one network: both ran (exit $rc_a, $rc_b)" $? "a: $(cat "$TMP/a.out") b: $(cat "$TMP/b.out")"
[[ "$ip_a" == "$S4".* ]] && [[ "$ip_b" == "$S4".* ]] && [ "$ip_a" != "$ip_b" ]
t_result "two containers on one network: each an address of the bridge's subnet ($ip_a, $ip_b)" $?
expect_match "two containers on one network: ping from one to the other" "^ping-ok$" "$(cat "$TMP/b.out")"
expect_eq "two containers on one network: TCP from one to the other" "hello-from-b" "$(cat "$TMP/a.out")"
expect_eq "a container reaches a TCP server on the host's bridge address" "hello-host-from-pod" "$(cat "$TMP/host.got")"
net_leftovers "two containers on one network"

# ---- a published port, reached at a host address that is not loopback ----
HOST_IP=$(ip -4 -o addr show scope global | awk '$2 !~ /^pvn/ {sub(/\/.*/, "", $4); print $4; exit}')
HOST_PORT=$((30000 + RANDOM % 10000))
"$PODVM" run --network "$NET4" -p "$HOST_PORT:8080" -p "$((HOST_PORT + 1)):8081/udp" "$IMG" sh -c \
	'echo ready; nc -l -p 8080 -e echo pong-through-published-port' >"$TMP/p.out" 2>&1 &
pid_p=$!
wait_for_text "$TMP/p.out" ready
rules=$(iptables -t nat -S | grep -- "-A CNI-DN-")
expect_match "-p: portmap's DNAT rule for the host port" "--dport $HOST_PORT -j DNAT --to-destination $S4\.[0-9]+:8080" "$rules"
expect_match "-p .../udp: a UDP rule too" "-p udp .*--dport $((HOST_PORT + 1)) -j DNAT --to-destination $S4\.[0-9]+:8081" "$rules"
got=""
for i in $(seq 30); do
	got=$(timeout 10 busybox nc -w 5 "$HOST_IP" "$HOST_PORT" </dev/null 2>/dev/null | tr -d '\r')
	[ -n "$got" ] && break
	sleep 0.3
done
expect_eq "-p: the host reaches the container's server at $HOST_IP:$HOST_PORT" "pong-through-published-port" "$got"
timeout 30 tail --pid=$pid_p -f /dev/null
kill $pid_p 2>/dev/null
wait $pid_p
net_leftovers "a published port"

# ---- dual stack: IPv4 and IPv6 from one host-local config, ping6 both ways ----
rm -f "$TMP/shared/done"
"$PODVM" run --network "$NET6" -v "$TMP/shared:/shared" "$IMG" sh -c '
	ip -o addr show dev eth0 scope global
	gw6=$(ip -6 route | sed -n "s/^default via \([0-9a-f:]*\).*/\1/p")
	for i in $(seq 10); do ping6 -c 1 -W 3 "$gw6" >/dev/null && { echo ping6-to-host-ok; break; }; sleep 0.5; done
	echo ready
	for i in $(seq 600); do [ -e /shared/done ] && break; sleep 0.1; done' >"$TMP/6.out" 2>&1 &
pid_6=$!
wait_for_text "$TMP/6.out" ready
ip6=$(sed -n 's/.*eth0 *inet6 \([0-9a-f:]*\)\/.*/\1/p' "$TMP/6.out" | head -1)
ip4=$(ipv4_of "$TMP/6.out")
[[ "$ip4" == "$S6".* ]]
t_result "dual stack: the guest's eth0 has an IPv4 address of the network ($ip4)" $? "$(cat "$TMP/6.out")"
[[ "$ip6" == "$P6"* ]]
t_result "dual stack: the guest's eth0 has an IPv6 address of the network ($ip6)" $? "$(cat "$TMP/6.out")"
expect_match "dual stack: ping6 from the container to the host's bridge address" "^ping6-to-host-ok$" "$(cat "$TMP/6.out")"
out=$(ping -6 -c 2 -W 10 "$ip6" 2>&1)
t_result "dual stack: ping6 from the host to the container" $? "$out"
out=$(ping -4 -c 1 -W 10 "$ip4" 2>&1)
t_result "dual stack: ping from the host to the container's IPv4 address" $? "$out"
touch "$TMP/shared/done"
wait $pid_6
net_leftovers "a dual-stack network"

# ---- MTU: a 1400-byte network all the way into the guest ----
rm -f "$TMP/shared/done"
"$PODVM" run --network "$NETM" -v "$TMP/shared:/shared" "$IMG" sh -c '
	echo mtu=$(cat /sys/class/net/eth0/mtu); ip -o -4 addr show dev eth0; echo ready
	for i in $(seq 600); do [ -e /shared/done ] && break; sleep 0.1; done' >"$TMP/m.out" 2>&1 &
pid_m=$!
wait_for_text "$TMP/m.out" ready
ip_m=$(ipv4_of "$TMP/m.out")
expect_match "MTU: the guest's eth0 has the network's MTU" "^mtu=1400$" "$(cat "$TMP/m.out")"
out=$(ping -M do -s 1372 -c 2 -W 10 "$ip_m" 2>&1)
t_result "MTU: 1400-byte packets (1372-byte ping, DF) reach the guest and back" $? "$out"
out=$(ping -M do -s 1400 -c 1 -W 3 "$ip_m" 2>&1)
[ $? -ne 0 ] && [[ "$out" == *"mtu=1400"* || "$out" == *"too long"* ]]
t_result "MTU: a 1428-byte packet with DF does not pass" $? "$out"
touch "$TMP/shared/done"
wait $pid_m
net_leftovers "a 1400-MTU network"

# ---- bad input and failed starts: one line, exit 125, nothing left ----
LEFTOVER_CHECK=net_leftovers  # for lib.sh's fails
fails "unknown network" 125 "^podvm: network nope-$SUFFIX: not found in $CNI_CONF_DIR\$" \
	"$PODVM" run --network "nope-$SUFFIX" "$IMG" true
fails "missing CNI config dir" 125 "^podvm: network $NET4: CNI config directory /nonexistent/cni: No such file or directory\$" \
	"$PODVM" run --cni-conf-dir /nonexistent/cni --network "$NET4" "$IMG" true
fails "a plugin that fails (bad IPAM range)" 125 "^podvm: network badrange-$SUFFIX: plugin bridge: .*RangeStart $S4\.5 not in network" \
	"$PODVM" run --network "badrange-$SUFFIX" "$IMG" true
fails "a plugin that is not installed (after one that ran)" 125 \
	"^podvm: network noplugin-$SUFFIX: plugin no-such-plugin-$SUFFIX: not found in /opt/cni/bin:/usr/lib/cni" \
	"$PODVM" run --network "noplugin-$SUFFIX" "$IMG" true
fails "-p without --network" 125 "^podvm: publish 8080:80: a published port needs a network" \
	"$PODVM" run -p 8080:80 "$IMG" true
fails "-p on a network without portmap" 125 "^podvm: network $NETM: .*: no plugin with the portMappings capability" \
	"$PODVM" run --network "$NETM" -p 8080:80 "$IMG" true
fails "malformed -p" 125 '^podvm: publish "80:x": want \[IP:\]HOSTPORT:CONTAINERPORT' \
	"$PODVM" run --network "$NET4" -p 80:x "$IMG" true
fails "a bad image on a network" 125 "^podvm: image .*corrupt.tar: layer 1" \
	"$PODVM" run --network "$NET4" -p "$HOST_PORT:80" "$FIX/corrupt.tar" true
fails "a VMM that fails to start, on a network with a published port" 125 "VMM exited" \
	env PODVM_QEMU=/bin/false "$PODVM" run --network "$NET4" -p "$HOST_PORT:80" "$IMG" true
fails "a missing guest image, on a network" 125 "^podvm: guest image: /nonexistent/guest/vmlinuz" \
	env PODVM_GUEST_DIR=/nonexistent/guest "$PODVM" run --network "$NET4" "$IMG" true
fails "an unknown command, on a network" 127 'exec: "no-such-command"' \
	"$PODVM" run --network "$NET4" "$IMG" no-such-command
expect_match "a single-plugin .conf file (cniVersion 0.4.0) works too" "inet $SZ\." \
	"$("$PODVM" run --network "single-$SUFFIX" "$IMG" ip -o -4 addr show dev eth0 2>&1)"
net_leftovers "a single-plugin .conf network"

# A run on a network killed by SIGKILL cannot take its network down: the next run does
# (CNI DEL as the killed run's record says: veth, IP, portmap rules; then its namespace).
"$PODVM" run --network "$NET4" -p "$HOST_PORT:8080" "$IMG" sh -c 'echo ready; sleep 60' >"$TMP/killed.out" 2>&1 &
killed=$!
wait_for_text "$TMP/killed.out" ready
t_result "SIGKILL: a run on a network with a published port started" $? "$(cat "$TMP/killed.out")"
kill -KILL $killed
for i in $(seq 100); do pgrep -f -- "qemu-system.*$PODVM_STATE_DIR/" >/dev/null || break; sleep 0.1; done
ls "$IPAM"/*/ 2>/dev/null | grep -q '^[0-9]'
t_result "SIGKILL: ... its IP was still allocated (the killed run could not free it)" $? "$(ls -R "$IPAM" 2>&1)"
t "SIGKILL: the next run works" "$PODVM" run "$IMG" true
net_leftovers "a run on a network killed by SIGKILL, then another run"

# Host interfaces: only this test's bridges were added (no veth, no tap left behind).
HOST_LINKS_AFTER=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort)
extra=$(comm -13 <(echo "$HOST_LINKS_BEFORE") <(echo "$HOST_LINKS_AFTER") | grep -v '^pvn[46mxyz]'"$TAG"'$' | tr '\n' ' ')
expect_eq "no host interface left but the test's bridges" "" "$extra"
