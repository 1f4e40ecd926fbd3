// min/low protection against an independent model: the model keeps plain usages
// per node and recomputes every sum from scratch, where the counters keep the
// kernel's incremental bookkeeping (propagate_protected_usage) in shared memory.
import fc from 'fast-check';
import { ResourceCounter } from '../../lib';

interface ModelNode {
  parent: number; // -1 for the root
  own: number; // charged directly at this node
  min: number;
  low: number;
}

function usage(nodes: ModelNode[], i: number): number {
  return nodes[i].own + nodes.reduce((a, n, j) => (n.parent === i ? a + usage(nodes, j) : a), 0);
}

// memcg's rules, stated on plain numbers: protection is what a node claims and
// uses; a parent that cannot cover all its children's claims splits its own
// protection by claim; with recursive protection an uncovered remainder is split by unprotected usage.
function modelEffective(nodes: ModelNode[], target: number, root: number, kind: 'min' | 'low', recursive: boolean): number {
  if (target === root || usage(nodes, target) === 0) return 0;
  const parent = nodes[target].parent;
  if (parent === root) return nodes[target][kind];
  const claim = (j: number): bigint => BigInt(Math.min(usage(nodes, j), nodes[j][kind]));
  const siblings = nodes.map((n, j) => (n.parent === parent ? claim(j) : 0n)).reduce((a, b) => a + b, 0n);
  const parentShare = BigInt(modelEffective(nodes, parent, root, kind, recursive));
  const mine = claim(target);
  if (siblings > parentShare) return Number((mine * parentShare) / siblings);
  const unprotected = BigInt(usage(nodes, target)) - mine;
  const parentUnclaimed = BigInt(usage(nodes, parent)) - siblings;
  if (!recursive || parentShare === siblings || unprotected === 0n || parentUnclaimed <= 0n) return Number(mine);
  return Number(mine + ((parentShare - siblings) * unprotected) / parentUnclaimed);
}

// Small trees and amounts of the same size as the settings, so that children often claim more
// than their parent affords (the proportional case) and stale bookkeeping would show.
const op = fc.oneof(
  fc.record({ kind: fc.constantFrom('charge' as const, 'tryCharge' as const), node: fc.nat(5), amount: fc.nat(30) }),
  fc.record({ kind: fc.constant('uncharge' as const), node: fc.nat(5), amount: fc.nat(40) }),
  fc.record({ kind: fc.constantFrom('min' as const, 'low' as const), node: fc.nat(5), amount: fc.oneof(fc.nat(40), fc.constant(0)) }),
);

// Every effective value of every counter, from every possible reclaim root, against the model.
// (Compared by hand, and expect()ed only on a mismatch: expect is slow at this many values.)
function checkAgainstModel(nodes: ModelNode[], counters: ResourceCounter[], recursive: boolean): void {
  for (let t = 0; t < nodes.length; t++) {
    if (counters[t].usage !== usage(nodes, t)) expect([t, counters[t].usage]).toEqual([t, usage(nodes, t)]);
    for (let r = t; r !== -1; r = nodes[r].parent) {
      const opts = { root: counters[r], recursiveProtection: recursive };
      const got = [t, r, counters[t].effectiveMin(opts), counters[t].effectiveLow(opts)];
      const want = [t, r, modelEffective(nodes, t, r, 'min', recursive), modelEffective(nodes, t, r, 'low', recursive)];
      if (got[2] !== want[2] || got[3] !== want[3]) expect(got).toEqual(want);
    }
  }
}

test('effectiveMin/effectiveLow equal the model after every step of random charges and settings on random trees, from every root', () => {
  fc.assert(
    // Parents are drawn among the nodes so far, often the newest one: deep trees, where sharing happens.
    // At least 20 steps: fast-check would otherwise keep most sequences short.
    fc.property(fc.array(fc.oneof(fc.constant(-1), fc.nat()), { minLength: 1, maxLength: 5 }), fc.array(op, { minLength: 20, maxLength: 40 }), fc.boolean(), (parents, ops, recursive) => {
      const nodes: ModelNode[] = [{ parent: -1, own: 0, min: 0, low: 0 }];
      const counters = [new ResourceCounter({ name: 'n0' })];
      for (const p of parents) {
        const parent = p < 0 ? nodes.length - 1 : p % nodes.length;
        nodes.push({ parent, own: 0, min: 0, low: 0 });
        counters.push(new ResourceCounter({ name: `n${nodes.length - 1}`, parent: counters[parent] }));
      }
      try {
        for (const o of ops) {
          const i = o.node % nodes.length;
          if (o.kind === 'charge' || o.kind === 'tryCharge') {
            if (o.kind === 'charge') counters[i].charge(o.amount);
            else expect(counters[i].tryCharge(o.amount)).toBe(true); // no limits: it always fits
            nodes[i].own += o.amount;
          } else if (o.kind === 'uncharge') {
            const n = Math.min(o.amount, nodes[i].own); // never below what was charged here: no clamping
            counters[i].uncharge(n);
            nodes[i].own -= n;
          } else if (o.kind === 'min') {
            counters[i].setMin(o.amount);
            nodes[i].min = o.amount;
          } else {
            counters[i].setLow(o.amount);
            nodes[i].low = o.amount;
          }
          checkAgainstModel(nodes, counters, recursive);
        }
      } finally {
        for (const c of counters.reverse()) c.close();
      }
    }),
    { numRuns: 1000 },
  );
});

test('protected usage follows every path that changes usage: uncharge, tryCharge, a refused tryCharge', () => {
  const root = new ResourceCounter({ name: 'root' });
  const parent = new ResourceCounter({ name: 'parent', parent: root });
  const a = new ResourceCounter({ name: 'a', parent, max: 100 });
  const b = new ResourceCounter({ name: 'b', parent });
  parent.setMin(100);
  a.setMin(80);
  b.setMin(60);
  b.charge(60);
  expect(a.tryCharge(80)).toBe(true); // claims 80 + 60 = 140 > 100: shared
  expect(a.effectiveMin()).toBe(Math.floor((80 * 100) / 140));
  expect(a.tryCharge(30)).toBe(false); // refused at a: its protected usage must not move
  expect(a.effectiveMin()).toBe(Math.floor((80 * 100) / 140));
  a.uncharge(70); // a claims 10: 10 + 60 = 70 <= 100, no sharing any more
  expect(a.effectiveMin()).toBe(10);
  expect(b.effectiveMin()).toBe(60);
});

test('a child closed while it claims protection gives its claim back: its siblings share the parent\'s protection again', () => {
  const root = new ResourceCounter({ name: 'root' });
  const parent = new ResourceCounter({ name: 'parent', parent: root });
  const a = new ResourceCounter({ name: 'a', parent });
  const b = new ResourceCounter({ name: 'b', parent });
  parent.setMin(100);
  a.setMin(80);
  b.setMin(60);
  a.charge(80);
  b.charge(60);
  expect(b.effectiveMin()).toBe(Math.floor((60 * 100) / 140)); // 140 claimed of 100: shared
  a.close(); // as a cgroup going offline: its min, and so its protected usage, is dropped
  expect(b.effectiveMin()).toBe(60);
});

test('worked example (docs/rescounter.md): 100 of min under a root, claimed 80 + 60 by two used children', () => {
  const root = new ResourceCounter({ name: 'root' });
  const service = new ResourceCounter({ name: 'service', parent: root });
  const a = new ResourceCounter({ name: 'a', parent: service });
  const b = new ResourceCounter({ name: 'b', parent: service });
  service.setMin(100);
  a.setMin(80);
  b.setMin(60);
  a.charge(120); // claims 80, uses more
  b.charge(30); // claims 60, uses 30: protected usage 30
  // service: a child of the root, so its declared 100
  expect(service.effectiveMin()).toBe(100);
  // children claim 80 + 30 = 110 > 100: shared by protected usage
  expect(a.effectiveMin()).toBe(Math.floor((80 * 100) / 110)); // 72
  expect(b.effectiveMin()).toBe(Math.floor((30 * 100) / 110)); // 27
  b.uncharge(20); // b now protects 10: 80 + 10 = 90 <= 100, each keeps what it claims and uses
  expect(a.effectiveMin()).toBe(80);
  expect(b.effectiveMin()).toBe(10);
  // recursive protection hands the unclaimed 10 out by unprotected usage: a has 40 unprotected, b none
  expect(a.effectiveMin({ recursiveProtection: true })).toBe(80 + Math.floor((10 * 40) / (130 - 90)));
  expect(b.effectiveMin({ recursiveProtection: true })).toBe(10);
  // relative to service as the reclaim root, a and b get their declared values
  expect(a.effectiveMin({ root: service })).toBe(80);
  expect(service.effectiveMin({ root: service })).toBe(0);
});
