/**
 * tc over rtnetlink: add, list and delete 1,000 htb classes, with kernkit
 * (requests in flight together, and one at a time; also with the event loop
 * reading replies itself, the mode that is off by default, for a comparison
 * from the same run), against one `tc`
 * process per command, one `tc -batch` process, and pyroute2 (Debian's
 * python3-pyroute2, run by /usr/bin/python3 inside the namespace). All in a
 * scratch network namespace with a veth pair, removed afterwards. The variants
 * take turns in every round, so that a machine busy with other work weighs on
 * all of them alike.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Tc } from '../lib';
import { receiving } from '../lib/netlink/socket';
import { printTable, writeResults, type Row } from './lib/report';

const COUNT = 1000;
const ROUNDS = 5;
const DEV = 'kk0';

interface Phases {
  add: number;
  list: number;
  delete: number;
}

const total = (p: Phases): number => p.add + p.list + p.delete;
const best = (all: Phases[]): Phases => all.reduce((a, b) => (total(b) < total(a) ? b : a));
const perClass = (p: Phases): number => (p.add + p.delete) / (2 * COUNT);
const seconds = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9;
const classid = (i: number): string => `1:${(i + 1).toString(16)}`;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * kernkit's phases, with requests in flight together or awaited one at a
 * time; `loopReceives`: the event loop reads replies itself while no dump runs
 * (off by default) instead of the I/O thread posting every reply to it.
 */
async function kernkit(ns: string, pipelined: boolean, loopReceives = false): Promise<Phases> {
  const before = receiving.onThread;
  receiving.onThread = !loopReceives;
  const tc = await Tc.open({ netns: ns });
  receiving.onThread = before;
  try {
    await tc.qdisc.add({ dev: DEV, handle: '1:', kind: 'htb' });
    const ids = Array.from({ length: COUNT }, (_, i) => classid(i));
    let t0 = process.hrtime.bigint();
    if (pipelined) {
      await Promise.all(ids.map((id) => tc.class.add({ dev: DEV, parent: '1:', classid: id, kind: 'htb', options: { rate: '1mbit' } })));
    } else {
      for (const id of ids) await tc.class.add({ dev: DEV, parent: '1:', classid: id, kind: 'htb', options: { rate: '1mbit' } });
    }
    const add = seconds(t0);
    t0 = process.hrtime.bigint();
    const listed = await tc.class.list({ dev: DEV });
    const list = seconds(t0);
    if (listed.length !== COUNT) throw new Error(`kernkit listed ${listed.length} classes`);
    t0 = process.hrtime.bigint();
    if (pipelined) await Promise.all(ids.map((id) => tc.class.delete({ dev: DEV, classid: id })));
    else for (const id of ids) await tc.class.delete({ dev: DEV, classid: id });
    const del = seconds(t0);
    await tc.qdisc.delete({ dev: DEV });
    return { add, list, delete: del };
  } finally {
    await tc.close();
  }
}

function tcPerCommand(ns: string): Phases {
  sh('tc', ['-n', ns, 'qdisc', 'add', 'dev', DEV, 'root', 'handle', '1:', 'htb']);
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < COUNT; i++) sh('tc', ['-n', ns, 'class', 'add', 'dev', DEV, 'parent', '1:', 'classid', classid(i), 'htb', 'rate', '1mbit']);
  const add = seconds(t0);
  t0 = process.hrtime.bigint();
  const out = sh('tc', ['-n', ns, '-s', 'class', 'show', 'dev', DEV]);
  const list = seconds(t0);
  if (out.split('\nclass htb').length !== COUNT) throw new Error('tc listed the wrong number of classes');
  t0 = process.hrtime.bigint();
  for (let i = 0; i < COUNT; i++) sh('tc', ['-n', ns, 'class', 'del', 'dev', DEV, 'classid', classid(i)]);
  const del = seconds(t0);
  sh('tc', ['-n', ns, 'qdisc', 'del', 'dev', DEV, 'root']);
  return { add, list, delete: del };
}

function tcBatch(ns: string, dir: string): Phases {
  const adds = path.join(dir, 'add.batch');
  const dels = path.join(dir, 'del.batch');
  writeFileSync(adds, Array.from({ length: COUNT }, (_, i) => `class add dev ${DEV} parent 1: classid ${classid(i)} htb rate 1mbit\n`).join(''));
  writeFileSync(dels, Array.from({ length: COUNT }, (_, i) => `class del dev ${DEV} classid ${classid(i)}\n`).join(''));
  sh('tc', ['-n', ns, 'qdisc', 'add', 'dev', DEV, 'root', 'handle', '1:', 'htb']);
  let t0 = process.hrtime.bigint();
  sh('tc', ['-n', ns, '-batch', adds]);
  const add = seconds(t0);
  t0 = process.hrtime.bigint();
  sh('tc', ['-n', ns, '-s', 'class', 'show', 'dev', DEV]);
  const list = seconds(t0);
  t0 = process.hrtime.bigint();
  sh('tc', ['-n', ns, '-batch', dels]);
  const del = seconds(t0);
  sh('tc', ['-n', ns, 'qdisc', 'del', 'dev', DEV, 'root']);
  return { add, list, delete: del };
}

const PYTHON = '/usr/bin/python3';

/** pyroute2's phases, or why they were not measured (with how to install it when it is missing). */
function pyroute2(ns: string): Phases[] | string {
  const probe = spawnSync(PYTHON, ['-c', 'import pyroute2'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    return `pyroute2 is not installed for ${PYTHON}; install it with \`apt-get install python3-pyroute2\` and run the benchmark again`;
  }
  const script = path.join(__dirname, 'tc-pyroute2.py');
  const r = spawnSync('ip', ['netns', 'exec', ns, PYTHON, script, DEV, String(COUNT), String(ROUNDS)], { encoding: 'utf8' });
  if (r.status !== 0) return (r.stderr || r.error?.message || 'failed').trim().split('\n').pop() as string;
  return JSON.parse(r.stdout) as Phases[];
}

function row(name: string, p: Phases, reference: Phases): Row {
  return {
    name,
    'add ms': p.add * 1e3,
    'list ms': p.list * 1e3,
    'delete ms': p.delete * 1e3,
    'total ms': total(p) * 1e3,
    'us/class (add+del)': perClass(p) * 1e6,
    'x pipelined us/class': perClass(p) / perClass(reference),
    'x slower than kernkit': total(p) / total(reference),
  };
}

/** Runs the benchmark, prints the table and writes bench/results/tc.json. */
export async function run(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('tc benchmark skipped: needs root (network namespaces)');
    return;
  }
  const ns = `kernkit-bench-${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'kernkit-tc-bench-'));
  sh('ip', ['netns', 'add', ns]);
  try {
    sh('ip', ['-n', ns, 'link', 'add', DEV, 'type', 'veth', 'peer', 'name', 'kk1']);
    sh('ip', ['-n', ns, 'link', 'set', DEV, 'up']);
    await kernkit(ns, true); // warm-up: JIT, device cache
    const pipelined: Phases[] = [];
    const sequential: Phases[] = [];
    const pipelinedLoop: Phases[] = [];
    const sequentialLoop: Phases[] = [];
    const batch: Phases[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      pipelined.push(await kernkit(ns, true));
      sequential.push(await kernkit(ns, false));
      pipelinedLoop.push(await kernkit(ns, true, true));
      sequentialLoop.push(await kernkit(ns, false, true));
      batch.push(tcBatch(ns, dir));
    }
    const perCommand = tcPerCommand(ns); // once: it takes seconds
    const py = pyroute2(ns);

    const ref = best(pipelined);
    const rows: Row[] = [
      row('kernkit (1000 requests in flight)', ref, ref),
      row('kernkit (awaiting each request)', best(sequential), ref),
      row('kernkit, loop reads replies (1000 in flight; off by default)', best(pipelinedLoop), ref),
      row('kernkit, loop reads replies (awaiting each; off by default)', best(sequentialLoop), ref),
      row('tc -batch (one process)', best(batch), ref),
      row('tc, one process per command', perCommand, ref),
    ];
    const notes: string[] = [];
    if (typeof py === 'string') notes.push(`pyroute2 not measured: ${py}`);
    else rows.push(row('pyroute2 0.7 (python3, one at a time)', best(py), ref));
    printTable(`tc: add, list and delete ${COUNT} htb classes (best of ${ROUNDS}; per command: 1 run)`, rows);
    for (const note of notes) console.log(note);
    writeResults('tc', { count: COUNT, rounds: ROUNDS, rows, notes });
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}
