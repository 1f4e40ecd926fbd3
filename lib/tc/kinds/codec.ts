/**
 * What every qdisc and filter kind module provides: an encoder that writes
 * `TCA_OPTIONS` as tc does for the same command, and decoders for what the
 * kernel dumps back (options and kind-specific statistics).
 * @module
 */
import type { ByteWriter } from '../../netlink';
import type { Psched } from '../psched';

/** What encoders and decoders need besides the options: the scheduler clock. */
export interface CodecContext {
  /** tc's tick arithmetic (from /proc/net/psched). */
  readonly psched: Psched;
  /** The operation, for error messages: `qdisc add`, `class change`, ... */
  readonly op: string;
}

/** Encoders and decoders of one qdisc kind. */
export interface QdiscCodec {
  /** The kind's name, as `TCA_KIND` carries it. */
  readonly kind: string;
  /** Writes `TCA_OPTIONS` (or nothing) for the qdisc's options; validates first. */
  encode(w: ByteWriter, options: unknown, ctx: CodecContext): void;
  /** Decodes the `TCA_OPTIONS` payload of a dump. */
  decode(options: Uint8Array | undefined, ctx: CodecContext): object | undefined;
  /** Decodes the kind's app statistics (`TCA_STATS_APP`). */
  decodeXstats?(data: Uint8Array): object;
  /** Classes, for classful kinds. */
  readonly classes?: {
    encode(w: ByteWriter, options: unknown, ctx: CodecContext): void;
    decode(options: Uint8Array | undefined, ctx: CodecContext): object | undefined;
    decodeXstats?(data: Uint8Array): object;
  };
}

/** Encoders and decoders of one filter kind. */
export interface FilterCodec {
  /** The kind's name. */
  readonly kind: string;
  /** Writes `TCA_OPTIONS`; may set the filter handle (returned) from the options. */
  encode(w: ByteWriter, options: unknown, ctx: CodecContext): void;
  /** Decodes the `TCA_OPTIONS` payload of a dump. */
  decode(options: Uint8Array | undefined, ctx: CodecContext): object | undefined;
  /** Parses the kind's handle syntax (u32: `800:0:1`). */
  parseHandle?(value: string | number, field: string): number;
  /** Formats a handle as tc prints it. */
  formatHandle?(handle: number): string;
}
