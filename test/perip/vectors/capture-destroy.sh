#!/bin/sh
# Re-captures ss-E.strace / ss-E.out: `ss -E -tin` under strace in a scratch network namespace
# while one IPv4 TCP connection (a Node echo server and client) opens, echoes and closes.
set -eu
cd "$(dirname "$0")"
NS=kernkit-test-cap$$
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add 10.9.0.1/24 dev lo
# ss -E runs until stopped: timeout ends it (and strace with it) after the connection is gone.
ip netns exec "$NS" timeout 4 strace -o ss-E.strace -e trace=recvmsg -e read=3 -xx stdbuf -oL ss -E -tin >ss-E.out 2>/dev/null &
SS=$!
sleep 1
ip netns exec "$NS" node -e "
const net = require('net');
const server = net.createServer((c) => { c.on('data', (d) => c.write(d)); c.on('end', () => c.end()); });
server.listen(5001, '10.9.0.1', () => {
  const c = net.connect(5001, '10.9.0.1', () => c.write('x'.repeat(3000)));
  let got = 0;
  c.on('data', (d) => { got += d.length; if (got >= 3000) c.end(); });
  c.on('close', () => setTimeout(() => server.close(), 200));
});
"
wait "$SS" || true
ip netns del "$NS"
