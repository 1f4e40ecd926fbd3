/**
 * ingress and clsact (net/sched/sch_ingress.c): hooks for filters on received
 * (and, for clsact, sent) packets. They take no options; their parent is
 * always `ffff:fff1` and their handle `ffff:`.
 * @module
 */
import { invalidArgument } from '../../errors';
import type { QdiscCodec } from './codec';

function hook(kind: string): QdiscCodec {
  return {
    kind,
    encode(_w, options): void {
      if (options !== undefined && (typeof options !== 'object' || options === null || Object.keys(options).length > 0)) {
        throw invalidArgument(`${kind} options`, options, `${kind} takes no options`);
      }
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
