/**
 * The qdisc and filter kinds kernkit encodes, by name.
 * @module
 */
import { u32 } from '../filters/u32';
import type { FilterCodec, QdiscCodec } from './codec';
import { bfifo, pfifo, pfifoHeadDrop } from './fifo';
import { fq } from './fq';
import { fqCodel } from './fq_codel';
import { htb } from './htb';
import { clsact, ingress } from './ingress';
import { netem } from './netem';
import { tbf } from './tbf';

/** Qdisc kinds by name. */
export const QDISC_KINDS: ReadonlyMap<string, QdiscCodec> = new Map(
  [pfifo, bfifo, pfifoHeadDrop, tbf, htb, fq, fqCodel, netem, ingress, clsact].map((c) => [c.kind, c]),
);

/** Filter kinds by name. */
export const FILTER_KINDS: ReadonlyMap<string, FilterCodec> = new Map([u32].map((c) => [c.kind, c]));

export type { CodecContext, FilterCodec, QdiscCodec } from './codec';
