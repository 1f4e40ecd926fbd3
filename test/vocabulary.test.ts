/**
 * The lifecycle words of docs/architecture.md ("Vocabulary"), held for every
 * class that has them: close() → closed, stop() → stopped, delete() → deleted,
 * and the dispose symbol that matches how finishing runs (async or sync), keyed
 * by the symbols Node itself uses for `using` / `await using`.
 */
import {
  Cgroup, GenEstimator, Ipvs, RateEstimator, Registry, ResourceCounter, Scheduler, SockDiag, Tc, TcpPeerCollector, WorkerPool,
} from '../lib';
import { NetlinkSocket } from '../lib/netlink';

const ASYNC_DISPOSE = Symbol.for('nodejs.asyncDispose');
const DISPOSE = Symbol.for('nodejs.dispose');

type Finisher = { name: string; proto: object; verb: string; flag: string; async: boolean };

const finishers: Finisher[] = [
  { name: 'Tc', proto: Tc.prototype, verb: 'close', flag: 'closed', async: true },
  { name: 'WorkerPool', proto: WorkerPool.prototype, verb: 'close', flag: 'closed', async: true },
  { name: 'Cgroup', proto: Cgroup.prototype, verb: 'delete', flag: 'deleted', async: true },
  { name: 'RateEstimator', proto: RateEstimator.prototype, verb: 'stop', flag: 'stopped', async: false },
  { name: 'GenEstimator', proto: GenEstimator.prototype, verb: 'stop', flag: 'stopped', async: false },
  { name: 'Ipvs', proto: Ipvs.prototype, verb: 'close', flag: 'closed', async: false },
  { name: 'ResourceCounter', proto: ResourceCounter.prototype, verb: 'close', flag: 'closed', async: false },
  { name: 'Registry', proto: Registry.prototype, verb: 'close', flag: 'closed', async: false },
  { name: 'TcpPeerCollector', proto: TcpPeerCollector.prototype, verb: 'stop', flag: 'stopped', async: true },
  { name: 'SockDiag', proto: SockDiag.prototype, verb: 'close', flag: 'closed', async: true },
  { name: 'Scheduler', proto: Scheduler.prototype, verb: 'close', flag: 'closed', async: false },
  { name: 'NetlinkSocket', proto: NetlinkSocket.prototype, verb: 'close', flag: 'closed', async: true },
];

/** Finds a property on the prototype chain. */
function lookup(proto: object, key: PropertyKey): PropertyDescriptor | undefined {
  for (let p: object | null = proto; p !== null; p = Object.getPrototypeOf(p)) {
    const d = Object.getOwnPropertyDescriptor(p, key);
    if (d) return d;
  }
  return undefined;
}

describe('finished objects share one vocabulary', () => {
  test('the test realm has the dispose symbols Node uses', () => {
    expect(Symbol.asyncDispose).toBe(ASYNC_DISPOSE);
    expect(Symbol.dispose).toBe(DISPOSE);
  });

  test.each(finishers)('$name: $verb() → $flag, and the matching dispose symbol', ({ proto, verb, flag, async }) => {
    expect(typeof lookup(proto, verb)?.value).toBe('function');
    expect(typeof lookup(proto, flag)?.get).toBe('function');
    const dispose = lookup(proto, async ? ASYNC_DISPOSE : DISPOSE);
    expect(typeof dispose?.value).toBe('function');
    // No method keyed by the string "undefined": what a missing Symbol.asyncDispose would have made.
    expect(lookup(proto, 'undefined')).toBeUndefined();
  });
});
