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

const op = fc.oneof(
  fc.record({ kind: fc.constant('charge' as const), node: fc.nat(7), amount: fc.nat(200) }),
  fc.record({ kind: fc.constant('uncharge' as const), node: fc.nat(7), amount: fc.nat(200) }),
  fc.record({ kind: fc.constantFrom('min' as const, 'low' as const), node: fc.nat(7), amount: fc.oneof(fc.nat(300), fc.constant(0)) }),
);

test('effectiveMin/effectiveLow equal the model for random trees, charges and settings, from every root', () => {
  fc.assert(
    fc.property(fc.array(fc.nat(), { minLength: 1, maxLength: 7 }), fc.array(op, { maxLength: 40 }), fc.boolean(), (parents, ops, recursive) => {
      const nodes: ModelNode[] = [{ parent: -1, own: 0, min: 0, low: 0 }];
      const counters = [new ResourceCounter({ name: 'n0' })];
      for (const p of parents) {
        const parent = p % nodes.length;
        nodes.push({ parent, own: 0, min: 0, low: 0 });
        counters.push(new ResourceCounter({ name: `n${nodes.length - 1}`, parent: counters[parent] }));
      }
      try {
        for (const o of ops) {
          const i = o.node % nodes.length;
          if (o.kind === 'charge') {
            counters[i].charge(o.amount);
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
        }
        for (let t = 0; t < nodes.length; t++) {
          expect(counters[t].usage).toBe(usage(nodes, t));
          for (let r = t; r !== -1; r = nodes[r].parent) {
            const opts = { root: counters[r], recursiveProtection: recursive };
            expect([t, r, counters[t].effectiveMin(opts)]).toEqual([t, r, modelEffective(nodes, t, r, 'min', recursive)]);
            expect([t, r, counters[t].effectiveLow(opts)]).toEqual([t, r, modelEffective(nodes, t, r, 'low', recursive)]);
          }
        }
      } finally {
        for (const c of counters.reverse()) c.close();
      }
    }),
    { numRuns: 300 },
  );
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
