/**
 * ingress and clsact (net/sched/sch_ingress.c): hooks for filters on received
 * (and, for clsact, sent) packets. They take no options; their parent is
 * always `ffff:fff1` and their handle `ffff:`.
 * @module
 */
import { options } from '../../validate';
import type { QdiscCodec } from './codec';

function hook(kind: string): QdiscCodec {
  return {
    kind,
    encode(_w, value): void {
      options(kind, value, []); // it takes none
    },
    decode(): undefined {
      return undefined;
    },
  };
}

/** ingress: filters on received packets. */
export const ingress = hook('ingress');
/** clsact: filters on received and sent packets (`tc filter ... ingress|egress`). */
export const clsact = hook('clsact');
