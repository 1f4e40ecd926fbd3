/**
 * The qdisc and filter kinds kernkit encodes, by name.
 * @module
 */
import { u32 } from '../filters/u32';
import type { FilterCodec, QdiscCodec } from './codec';
import { bfifo, pfifo, pfifoHeadDrop } from './fifo';
import { htb } from './htb';
import { clsact, ingress } from './ingress';
import { tbf } from './tbf';

/** Qdisc kinds by name. */
export const QDISC_KINDS: ReadonlyMap<string, QdiscCodec> = new Map(
  [pfifo, bfifo, pfifoHeadDrop, tbf, htb, ingress, clsact].map((c) => [c.kind, c]),
);

/** Filter kinds by name. */
export const FILTER_KINDS: ReadonlyMap<string, FilterCodec> = new Map([u32].map((c) => [c.kind, c]));

export type { CodecContext, FilterCodec, QdiscCodec } from './codec';
