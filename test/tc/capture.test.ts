/**
 * test/tc/vectors/capture.sh, run for real on a small commands file: a
 * command it skips (a "tc-new" line without TC_NEW) keeps the vector the file
 * already held, with that capture's interface index and clock, instead of
 * disappearing from the rewritten file.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { commandMissing, kernelTest } from '../helpers/kernel';
import { tcMissing, testName, tryRun } from '../helpers/tc';

const ktest = kernelTest(tcMissing() ?? commandMissing('strace', ['-V']));
const SCRIPT = path.join(__dirname, 'vectors', 'capture.sh');

interface Vector {
  name: string;
  hex: string;
  command: string;
  ifindex?: number;
  psched?: string;
}

let dir: string | undefined;
let netns: string | undefined;
afterEach(() => {
  if (netns) tryRun('ip', ['netns', 'del', netns]); // capture.sh removes it; this is for a run that failed midway
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = netns = undefined;
});

function capture(commands: string): { ifindex: number; psched: string; vectors: Vector[] } {
  writeFileSync(path.join(dir!, 'commands.txt'), commands);
  netns = testName();
  const env = { ...process.env, COMMANDS: path.join(dir!, 'commands.txt'), OUT_DIR: dir!, NETNS: netns, TC_NEW: '' };
  execFileSync('bash', [SCRIPT], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(readFileSync(path.join(dir!, 'fq.json'), 'utf8'));
}

ktest('a rerun without TC_NEW keeps the vectors it skipped, in commands order, with their own capture context', () => {
  dir = mkdtempSync(path.join(tmpdir(), 'kernkit-test-capture-'));
  const weights = { name: 'weights', tc: 'tc utility, iproute2-6.7.0', command: 'tc qdisc add dev kk0 root fq weights 589824 196608 65536', hex: 'c0ffee' };
  const stale = { name: 'defaults', tc: 'old', command: 'tc qdisc add dev kk0 root fq', hex: '00' };
  const gone = { name: 'no longer in commands', tc: 'old', command: 'tc qdisc add dev kk0 root fq limit 1', hex: '11' };
  writeFileSync(path.join(dir, 'fq.json'), JSON.stringify({ captured: 'capture.sh', ifindex: 99, psched: '1 2 3 4', vectors: [stale, weights, gone] }));
  const out = capture(
    ['fq|defaults|tc|qdisc add dev kk0 root fq', `fq|weights|tc-new|${weights.command.slice(3)}`, 'fq|limit|tc|qdisc add dev kk0 root fq limit 5000', ''].join('\n'),
  );
  expect(out.vectors.map((v) => v.name)).toEqual(['defaults', 'weights', 'limit']);
  const [defaults, kept, limit] = out.vectors;
  // captured now, from this run's tc
  expect(defaults.hex).not.toBe(stale.hex);
  expect(Buffer.from(defaults.hex, 'hex').readUInt16LE(4)).toBe(36); // RTM_NEWQDISC
  expect(limit.command).toBe('tc qdisc add dev kk0 root fq limit 5000');
  // skipped: the earlier capture, with its interface index and clock
  expect(kept).toEqual({ ...weights, ifindex: 99, psched: '1 2 3 4' });
  expect(out.psched).toBe(readFileSync('/proc/net/psched', 'utf8').trim().split(/\s+/).join(' '));

  // a second run keeps it again, unchanged
  const again = capture(['fq|defaults|tc|qdisc add dev kk0 root fq', `fq|weights|tc-new|${weights.command.slice(3)}`, ''].join('\n'));
  expect(again.vectors.map((v) => v.name)).toEqual(['defaults', 'weights']);
  expect(again.vectors[1]).toEqual(kept);
}, 60000);
