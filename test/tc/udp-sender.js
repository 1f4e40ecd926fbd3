// Sends UDP datagrams to one address, as fast as the socket takes them, until
// `count` are sent or `durationMs` has passed; prints {sent, bytes, elapsedMs}.
// Run inside a test namespace with `ip netns exec`; the tests only ever pass
// addresses of their own namespaces.
'use strict';
const dgram = require('node:dgram');

const [to, port, count, durationMs, size] = process.argv.slice(2);
const max = Number(count);
const limitMs = Number(durationMs);
const payload = Buffer.alloc(Number(size), 0x6b);
const socket = dgram.createSocket('udp4');
const start = process.hrtime.bigint();
const elapsed = () => Number(process.hrtime.bigint() - start) / 1e6;
let sent = 0;
let inFlight = 0;
let done = false;

function finish() {
  if (done) return;
  done = true;
  socket.close(() => {
    process.stdout.write(JSON.stringify({ sent, bytes: sent * payload.length, elapsedMs: elapsed() }));
  });
}

function pump() {
  while (!done && inFlight < 64 && sent + inFlight < max) {
    if (elapsed() >= limitMs) break;
    inFlight++;
    socket.send(payload, Number(port), to, (err) => {
      inFlight--;
      if (!err) sent++;
      if (sent >= max || elapsed() >= limitMs) {
        if (inFlight === 0) finish();
      } else {
        pump();
      }
    });
  }
  if (inFlight === 0) finish();
}

setTimeout(finish, limitMs + 2000).unref();
pump();
