// For spawn.kernel.test.ts: started with an fd 50 that is not close-on-exec
// (Node marks only 0..15 and what follows without a gap), spawns
// `ls /proc/self/fd` with kernkit and prints what the new program has open.
// Exits 2 if fd 50 is missing or close-on-exec, so that a passing test cannot
// come from a setup that leaks nothing.
const { readFileSync } = require('node:fs');
const { spawn } = require('../../dist');

const flags = /^flags:\s+([0-7]+)/m.exec(readFileSync('/proc/self/fdinfo/50', 'utf8'));
if (!flags || parseInt(flags[1], 8) & 0o2000000) {
  console.error('fd 50 is missing or close-on-exec');
  process.exit(2);
}

(async () => {
  const child = await spawn('ls', ['/proc/self/fd'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => (out += d));
  const closed = new Promise((r) => child.stdout.once('close', r));
  const exit = await child.exited;
  await closed;
  process.stdout.write(JSON.stringify({ exit, fds: out.split('\n').filter(Boolean).map(Number) }));
})();
