/**
 * pfifo, bfifo and pfifo_head_drop (net/sched/sch_fifo.c): a queue limited in
 * packets (pfifo) or bytes (bfifo). `TCA_OPTIONS` is a bare `struct
 * tc_fifo_qopt`, sent only when a limit is given; without one the kernel takes
 * the device's txqueuelen (times its MTU for bfifo).
 * @module
 */
import { StructReader, type ByteWriter } from '../../netlink';
import { TCA_OPTIONS } from '../constants';
import { options } from '../../validate';
import { parseSize, type Size } from '../units';
import type { QdiscCodec } from './codec';

/** Options of pfifo, bfifo and pfifo_head_drop. */
export interface FifoOptions {
  /**
   * The queue limit: packets for pfifo/pfifo_head_drop, bytes for bfifo. tc
   * reads it as a size, so `'10k'` means 10240 (packets or bytes).
   */
  limit?: Size;
}

/** What a fifo qdisc dumps. */
export interface FifoInfo {
  /** The limit in packets (pfifo) or bytes (bfifo). */
  limit: number;
}

function fifo(kind: string): QdiscCodec {
  return {
    kind,
    encode(w: ByteWriter, value: unknown): void {
      const o = options<FifoOptions>(kind, value, ['limit']);
      if (o.limit === undefined) return;
      const at = w.beginAttr(TCA_OPTIONS, 'limit');
      w.u32(parseSize(o.limit, `${kind}.limit`));
      w.endAttr(at);
    },
    decode(options: Uint8Array | undefined): FifoInfo | undefined {
      if (!options) return undefined;
      return { limit: new StructReader(options, 4, 'tc_fifo_qopt').u32(0) };
    },
  };
}

/** pfifo: a packet-limited FIFO. */
export const pfifo = fifo('pfifo');
/** bfifo: a byte-limited FIFO. */
export const bfifo = fifo('bfifo');
/** pfifo_head_drop: a packet-limited FIFO that drops from the head when full. */
export const pfifoHeadDrop = fifo('pfifo_head_drop');
