#!/bin/sh
# Re-captures ss-tein.strace / ss-tein.out: `ss -tein` under strace in a scratch network
# namespace holding one IPv4 and one IPv6 TCP connection (a Node echo server and client).
set -eu
cd "$(dirname "$0")"
NS=kernkit-test-cap$$
ip netns add "$NS"
trap 'ip netns del "$NS"' EXIT
ip -n "$NS" link set lo up
ip -n "$NS" addr add 10.9.0.1/24 dev lo
ip -n "$NS" -6 addr add fd00::1/128 dev lo nodad
ip netns exec "$NS" node -e "
const net = require('net');
for (const [h, p] of [['10.9.0.1', 5001], ['fd00::1', 5002]]) {
  net.createServer((c) => c.on('data', (d) => c.write(d))).listen(p, h, () => {
    const c = net.connect(p, h, () => c.write('x'.repeat(5000)));
    c.on('data', () => {});
  });
}
setTimeout(() => process.exit(0), 3000);
" &
sleep 1.2
ip netns exec "$NS" strace -e trace=sendmsg,recvmsg -e write=3 -e read=3 -xx ss -tein >ss-tein.out 2>ss-tein.strace
wait
