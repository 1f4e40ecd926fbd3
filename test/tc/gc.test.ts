/**
 * A Tc that is never closed must not pin its I/O thread and netlink socket
 * for the life of the process: once unreachable (and with nothing awaited)
 * it is collected, and its thread and socket go. Checked in a child process
 * run with --expose-gc, counting its threads and socket descriptors.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { kernelTest } from '../helpers/kernel';
import { TestNetns, removeAllNamespaces, tcMissing } from '../helpers/tc';

const ktest = kernelTest(tcMissing());

let ns: TestNetns | undefined;
afterEach(() => {
  ns?.remove();
  ns = undefined;
});
afterAll(removeAllNamespaces);

interface Usage {
  threads: number;
  sockets: number;
}

ktest('an unclosed, unreachable Tc is collected with its thread and socket; a reachable or busy one is not', () => {
  ns = TestNetns.create();
  ns.tc('qdisc', 'add', 'dev', 'kk0', 'root', 'handle', '1:', 'htb');
  const out = execFileSync(process.execPath, ['--expose-gc', path.join(__dirname, 'gc-child.js'), ns.name], { encoding: 'utf8', timeout: 60000 });
  const r = JSON.parse(out) as { before: Usage; withKept: Usage; inUse: Usage; collected: boolean; afterCollect: Usage; keptWorks: boolean; inFlightAnswered: boolean };
  // each open Tc is one I/O thread and one socket
  expect(r.withKept).toEqual({ threads: r.before.threads + 1, sockets: r.before.sockets + 1 });
  expect(r.inUse).toEqual({ threads: r.withKept.threads + 1, sockets: r.withKept.sockets + 1 });
  expect(r.collected).toBe(true);
  expect(r.afterCollect).toEqual(r.withKept);
  expect(r.keptWorks).toBe(true);
  expect(r.inFlightAnswered).toBe(true);
}, 90000);
