// Holds N TCP connections to a local server on 10.77.0.1 (not loopback), for bench/perip.ts.
// Waits for a line on stdin (the address is added meanwhile), prints "ready" once all are up.
const net = require('node:net');

const n = Number(process.argv[2]);
const held = [];
process.stdin.once('data', () => {
  const server = net.createServer((c) => held.push(c));
  server.listen(0, '10.77.0.1', async () => {
    const { port } = server.address();
    for (let i = 0; i < n; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, n - i) }, () => new Promise((resolve, reject) => {
          const c = net.connect(port, '10.77.0.1', () => {
            c.write('hello');
            resolve();
          });
          c.on('error', reject);
          held.push(c);
        })),
      );
    }
    process.stdout.write('ready\n');
  });
});
