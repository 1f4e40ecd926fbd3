/**
 * The weighted least-connection search shared by wlc, sed, lblc and lblcr:
 * loads compare as `h1 * w2 > h2 * w1` in signed 64-bit arithmetic.
 * @module
 */
import type { RealServer } from '../real-server';

/** `(s64)a * b > (s64)c * d`, exact beyond 2^53 too. */
export function productGreater(a: number, b: number, c: number, d: number): boolean {
  const x = a * b;
  const y = c * d;
  if (x <= Number.MAX_SAFE_INTEGER && y <= Number.MAX_SAFE_INTEGER) return x > y;
  return BigInt(a) * BigInt(b) > BigInt(c) * BigInt(d);
}

/**
 * The first server without OVERLOAD and with weight > 0 seeds the search; a
 * later server without OVERLOAD replaces it when `least_oh * w > oh * least_w`
 * (strict, so the earlier server wins ties and weight 0 never wins).
 */
export function weightedLeast(dests: readonly RealServer[], overhead: (d: RealServer) => number): RealServer | null {
  const n = dests.length;
  let i = 0;
  let least: RealServer | null = null;
  for (; i < n; i++) {
    const d = dests[i];
    if (!d.overloaded && d.weight > 0) {
      least = d;
      break;
    }
  }
  if (!least) return null;
  let loh = overhead(least);
  for (i++; i < n; i++) {
    const d = dests[i];
    if (d.overloaded) continue;
    const doh = overhead(d);
    if (productGreater(loh, d.weight, doh, least.weight)) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

/** The wlc overhead: `active * 256 + inactive`. */
export function connOverhead(d: RealServer): number {
  return d.activeConns * 256 + d.inactConns;
}

/** The sed/nq overhead: `active + 1`. */
export function expectedDelayOverhead(d: RealServer): number {
  return d.activeConns + 1;
}
