#!/usr/bin/env bash
# The seed topology on loopback: 3 Consul servers (-bootstrap-expect 3) and a
# client agent, an rpcx and a gRPC service registering through the client
# agent, and the HTTP gateway (with its dashboard) reading the registry
# through the same agent. Runs until Ctrl-C, then stops everything it
# started by PID.
#
#   bash examples/gateway/run.sh
#
# Ports start at PORT_BASE (default 18500): agent i uses PORT_BASE+10i
# (HTTP), +1 (server RPC), +2 (Serf LAN), +3 (Serf WAN); the rpcx service
# PORT_BASE+50, the gRPC service PORT_BASE+51, the gateway PORT_BASE+80.
# The PIDs are in $STATE_DIR/*.pid (default: a new temporary directory).
set -euo pipefail
cd "$(dirname "$0")/../.."

PORT_BASE="${PORT_BASE:-18500}"
STATE_DIR="${STATE_DIR:-$(mktemp -d /tmp/discovery-gateway-example.XXXXXX)}"
mkdir -p "$STATE_DIR"
CONSUL="${CONSUL_BIN:-$(bash scripts/install-consul.sh)}"

pids=()
stop_all() {
	trap - EXIT INT TERM
	echo "stopping: ${pids[*]}"
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do # the gateway and services first
		kill -TERM "${pids[i]}" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
}
trap stop_all EXIT
trap 'exit 0' INT TERM

# start NAME COMMAND...: runs it in the background, output in NAME.log.
start() {
	local name=$1
	shift
	"$@" >"$STATE_DIR/$name.log" 2>&1 &
	pids+=($!)
	echo $! >"$STATE_DIR/$name.pid"
}

echo "== building the gateway and the services"
go build -tags consul -o "$STATE_DIR/gateway" ./cmd/gateway
go build -tags consul -o "$STATE_DIR/services" ./examples/gateway/services

port() { echo $((PORT_BASE + 10 * $1 + $2)); }
join="127.0.0.1:$(port 0 2)"
for i in 0 1 2 3; do
	role=(-server -bootstrap-expect 3)
	name="server$i"
	if [[ $i == 3 ]]; then
		role=()
		name="client"
	fi
	start "consul-$name" "$CONSUL" agent "${role[@]}" -node "$name" -data-dir "$STATE_DIR/consul-$name" \
		-bind 127.0.0.1 -client 127.0.0.1 -retry-join "$join" -retry-interval 1s \
		-hcl 'performance { raft_multiplier = 1 }' -log-level warn \
		-http-port "$(port "$i" 0)" -server-port "$(port "$i" 1)" \
		-serf-lan-port "$(port "$i" 2)" -serf-wan-port "$(port "$i" 3)" \
		-dns-port -1 -grpc-port -1 -grpc-tls-port -1
done
client="127.0.0.1:$(port 3 0)"

echo "== waiting for a Raft leader, as the client agent sees it"
for _ in $(seq 600); do
	leader=$(curl -fsS "http://$client/v1/status/leader" 2>/dev/null || true)
	[[ "$leader" == *:* ]] && break
	sleep 0.1
done
[[ "$leader" == *:* ]] || { echo "no Consul leader within 60s; see $STATE_DIR/consul-*.log" >&2; exit 1; }
leader=${leader//\"/}
leader_name="consul-server$(( (${leader##*:} - PORT_BASE - 1) / 10 ))"
echo "leader: $leader_name ($leader)"

registry="consul://$client?mode=catalog&ttl=10s"
start services "$STATE_DIR/services" -registry "$registry" \
	-rpcx "127.0.0.1:$((PORT_BASE + 50))" -grpc "127.0.0.1:$((PORT_BASE + 51))"
gw="127.0.0.1:$((PORT_BASE + 80))"
start gateway "$STATE_DIR/gateway" --registry "$registry" --listen "$gw" \
	--service 'Arith:idempotent=true' --service 'grpc.health.v1.Health:idempotent=true'

echo "== waiting for the gateway to reach both services"
for _ in $(seq 600); do
	if curl -fsS -d '{"A":6,"B":7}' "http://$gw/Arith/Mul" >/dev/null 2>&1 &&
		curl -fsS -d '{}' "http://$gw/grpc.health.v1.Health/Check" >/dev/null 2>&1; then
		ready=1
		break
	fi
	sleep 0.1
done
[[ -n "${ready:-}" ]] || { echo "the gateway did not answer within 60s; see $STATE_DIR/*.log" >&2; exit 1; }

cat <<EOF
== ready (state and logs in $STATE_DIR)
  curl -d '{"A":6,"B":7}' http://$gw/Arith/Mul
  curl -d '{}' http://$gw/grpc.health.v1.Health/Check
  curl http://$gw/services
  dashboard: http://$gw/ui
  stop the Raft leader: kill -9 \$(cat $STATE_DIR/$leader_name.pid)
Ctrl-C stops everything.
EOF
while true; do
	sleep 1 &
	wait $! || true
done
