/**
 * Device names: kernkit caches name → index, and link notifications keep the
 * cache true. A device renamed, and its old name taken by another device, must
 * not leave requests going to the old index.
 */
import { Tc } from '../../lib';
import { kernelTest } from '../helpers/kernel';
import { TestNetns, removeAllNamespaces, tcMissing } from '../helpers/tc';

const ktest = kernelTest(tcMissing());

let ns: TestNetns;
let tc: Tc;

beforeEach(async () => {
  if (tcMissing()) return;
  ns = TestNetns.create('kk0', 'kk1');
  tc = await Tc.open({ netns: ns.name });
});

afterEach(async () => {
  await tc?.close();
  ns?.remove();
});

afterAll(removeAllNamespaces);

/** The root qdisc's kind on `dev`, as tc shows it. */
const rootKind = (dev: string) => ns.tcJson('qdisc', 'dev', dev).find((q) => q.root)?.kind;

ktest('a name another device takes over after a rename leads to that device', async () => {
  await tc.qdisc.add({ dev: 'kk0', kind: 'pfifo', options: { limit: 10 } }); // kk0's index is cached now
  const first = ns.ifindex('kk0');
  // kk0 becomes kkx; kk1 becomes kk0
  for (const [from, to] of [['kk0', 'kkx'], ['kk1', 'kk0']]) {
    ns.ip('link', 'set', from, 'down');
    ns.ip('link', 'set', from, 'name', to);
  }
  expect(ns.ifindex('kkx')).toBe(first);
  // Any reply read after the renames comes after their notifications: the cache has heard of them.
  // (A listing by index, which looks no name up.)
  expect(await tc.class.list({ dev: first })).toEqual([]);
  await tc.qdisc.replace({ dev: 'kk0', kind: 'bfifo', options: { limit: 10000 } });
  expect(rootKind('kk0')).toBe('bfifo');
  expect(rootKind('kkx')).toBe('pfifo');
  expect((await tc.qdisc.list({ dev: 'kk0' }))[0]).toMatchObject({ kind: 'bfifo', dev: 'kk0', ifindex: ns.ifindex('kk0') });
  // the listing names the renamed device by its new name
  expect((await tc.qdisc.list({ dev: first }))[0]).toMatchObject({ kind: 'pfifo', dev: 'kkx' });
});

ktest('a device deleted and made again under the same name is found under its new index', async () => {
  ns.addVethPair('kk2', 'kk3');
  await tc.qdisc.add({ dev: 'kk2', kind: 'pfifo', options: { limit: 10 } });
  const before = ns.ifindex('kk2');
  ns.ip('link', 'del', 'kk2');
  ns.addVethPair('kk3', 'kk2'); // kk2 again, now the peer: a new index
  expect(ns.ifindex('kk2')).not.toBe(before);
  ns.tc('qdisc', 'add', 'dev', 'kk2', 'root', 'bfifo', 'limit', '10000');
  // a round trip that looks no name up; the old index is gone
  await expect(tc.class.list({ dev: before })).rejects.toMatchObject({ code: 'ENODEV' });
  // a listing by the name must not ask about the old index (which would list nothing)
  expect(await tc.qdisc.list({ dev: 'kk2' })).toEqual([expect.objectContaining({ kind: 'bfifo', dev: 'kk2', ifindex: ns.ifindex('kk2') })]);
  await tc.qdisc.replace({ dev: 'kk2', kind: 'pfifo', options: { limit: 5 } });
  expect(rootKind('kk2')).toBe('pfifo');
});
