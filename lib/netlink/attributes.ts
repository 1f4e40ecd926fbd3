/**
 * Netlink attributes (`struct rtattr`/`struct nlattr`): a writer that lays
 * them out as the kernel and iproute2 do (4-byte header, payload, zero padding
 * to 4 bytes, nests whose length covers their padded children), and a
 * bounds-checked reader.
 * @module
 */
import { KernkitError } from '../errors';
import { invalid } from '../validate';
import { NLA_F_NESTED, NLA_TYPE_MASK, NLMSG_ALIGNTO } from './constants';

/** Rounds a length up to netlink's 4-byte alignment. */
export function align(len: number): number {
  return (len + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1);
}

/** The error a malformed message yields: `EBADMSG` naming what was wrong. */
export function badMessage(what: string): KernkitError {
  return new KernkitError(`netlink: malformed message: ${what}`, { code: 'EBADMSG' });
}

/**
 * A growable little-endian byte buffer, written front to back. Netlink is in
 * host byte order; kernkit runs on little-endian Linux (x64).
 */
export class ByteWriter {
  private buf: Buffer;
  private len = 0;
  /** Offsets of labelled attributes, to name the one an extended ack points at. */
  readonly labels: Array<{ offset: number; label: string }> = [];

  /** Creates an empty writer with `capacity` bytes reserved. */
  constructor(capacity = 256) {
    this.buf = Buffer.alloc(capacity);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.len;
  }

  private reserve(n: number): number {
    const at = this.len;
    const need = at + n;
    if (need > this.buf.length) {
      const grown = Buffer.alloc(Math.max(need, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, at);
      this.buf = grown;
    }
    this.len = need;
    return at;
  }

  /** Appends zero bytes up to the next 4-byte boundary. */
  pad(): void {
    this.reserve(align(this.len) - this.len); // the buffer is zero-filled
  }

  /** Appends `n` zero bytes and returns their offset. */
  zeros(n: number): number {
    return this.reserve(n);
  }

  /** Appends raw bytes. */
  bytes(data: Uint8Array): void {
    const at = this.reserve(data.length);
    this.buf.set(data, at);
  }

  /** Appends an unsigned 8-bit value. */
  u8(v: number): void {
    this.buf.writeUInt8(v, this.reserve(1));
  }

  /** Appends an unsigned 16-bit value. */
  u16(v: number): void {
    this.buf.writeUInt16LE(v, this.reserve(2));
  }

  /** Appends an unsigned 32-bit value. */
  u32(v: number): void {
    this.buf.writeUInt32LE(v >>> 0, this.reserve(4));
  }

  /** Appends a signed 32-bit value. */
  s32(v: number): void {
    this.buf.writeInt32LE(v, this.reserve(4));
  }

  /** Appends an unsigned 64-bit value. */
  u64(v: bigint | number): void {
    this.buf.writeBigUInt64LE(BigInt(v), this.reserve(8));
  }

  /** Overwrites an unsigned 32-bit value at `offset`. */
  setU32(offset: number, v: number): void {
    this.buf.writeUInt32LE(v >>> 0, offset);
  }

  /** Overwrites an unsigned 16-bit value at `offset`. */
  setU16(offset: number, v: number): void {
    this.buf.writeUInt16LE(v, offset);
  }

  /** A view of the bytes written so far (shares memory with the writer). */
  view(): Buffer {
    return this.buf.subarray(0, this.len);
  }

  /** Starts an attribute; returns its offset for {@link ByteWriter.endAttr}. */
  beginAttr(type: number, label?: string): number {
    const at = this.reserve(4);
    this.buf.writeUInt16LE(type, at + 2);
    if (label) this.labels.push({ offset: at, label });
    return at;
  }

  /** Ends an attribute begun at `at`: sets its length and pads to 4 bytes. */
  endAttr(at: number): void {
    const len = this.len - at;
    if (len > 0xffff) throw invalid('netlink attribute length', len, 'at most 65535 bytes', 'EMSGSIZE');
    this.buf.writeUInt16LE(len, at);
    this.pad();
  }

  /** An attribute with a raw payload. */
  attr(type: number, payload: Uint8Array, label?: string): void {
    const at = this.beginAttr(type, label);
    this.bytes(payload);
    this.endAttr(at);
  }

  /** An attribute holding an unsigned 8-bit value. */
  attrU8(type: number, v: number, label?: string): void {
    const at = this.beginAttr(type, label);
    this.u8(v);
    this.endAttr(at);
  }

  /** An attribute holding an unsigned 16-bit value. */
  attrU16(type: number, v: number, label?: string): void {
    const at = this.beginAttr(type, label);
    this.u16(v);
    this.endAttr(at);
  }

  /** An attribute holding an unsigned 32-bit value. */
  attrU32(type: number, v: number, label?: string): void {
    const at = this.beginAttr(type, label);
    this.u32(v);
    this.endAttr(at);
  }

  /** An attribute holding a signed 32-bit value. */
  attrS32(type: number, v: number, label?: string): void {
    const at = this.beginAttr(type, label);
    this.s32(v);
    this.endAttr(at);
  }

  /** An attribute holding an unsigned 64-bit value. */
  attrU64(type: number, v: bigint | number, label?: string): void {
    const at = this.beginAttr(type, label);
    this.u64(v);
    this.endAttr(at);
  }

  /** An attribute holding a NUL-terminated string. */
  attrString(type: number, s: string, label?: string): void {
    const at = this.beginAttr(type, label);
    this.bytes(Buffer.from(s + '\0', 'utf8'));
    this.endAttr(at);
  }

  /** An attribute with no payload (a flag). */
  attrFlag(type: number, label?: string): void {
    this.endAttr(this.beginAttr(type, label));
  }

  /**
   * A nested attribute whose children `fill` writes. iproute2 leaves
   * `NLA_F_NESTED` off its nests (`addattr_nest`); pass it in `type` where it
   * sets it.
   */
  nest(type: number, fill: () => void, label?: string): void {
    const at = this.beginAttr(type, label);
    fill();
    this.endAttr(at);
  }
}

/** One attribute as read: its type (flags stripped), flags and payload. */
export interface Attr {
  /** The attribute type, without `NLA_F_NESTED`/`NLA_F_NET_BYTEORDER`. */
  readonly type: number;
  /** True if the sender set `NLA_F_NESTED`. */
  readonly nested: boolean;
  /** The payload (a view into the message). */
  readonly data: Uint8Array;
}

/**
 * Reads the attributes in `data`. Every length is checked against what
 * remains: a truncated or overlong attribute is `EBADMSG`, as is trailing
 * garbage shorter than an attribute header.
 */
export function parseAttrs(data: Uint8Array, where = 'attributes'): Attr[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: Attr[] = [];
  let off = 0;
  while (off < data.length) {
    if (data.length - off < 4) throw badMessage(`${where}: ${data.length - off} stray bytes at offset ${off}`);
    const len = view.getUint16(off, true);
    const rawType = view.getUint16(off + 2, true);
    if (len < 4) throw badMessage(`${where}: attribute at offset ${off} has length ${len} (at least 4)`);
    if (off + len > data.length) {
      throw badMessage(`${where}: attribute ${rawType & NLA_TYPE_MASK} at offset ${off} has length ${len}, only ${data.length - off} bytes left`);
    }
    out.push({ type: rawType & NLA_TYPE_MASK, nested: (rawType & NLA_F_NESTED) !== 0, data: data.subarray(off + 4, off + len) });
    off += align(len);
  }
  return out;
}

/**
 * Attributes by type, as the kernel's `nla_parse` sees them: when a type
 * repeats, the last one counts.
 */
export class AttrTable {
  private readonly byType = new Map<number, Uint8Array>();

  /** Parses `data` (see {@link parseAttrs}); `where` names the attribute set in errors. */
  constructor(
    data: Uint8Array,
    readonly where = 'attributes',
  ) {
    for (const a of parseAttrs(data, where)) this.byType.set(a.type, a.data);
  }

  /** True if the attribute is present. */
  has(type: number): boolean {
    return this.byType.has(type);
  }

  /** The raw payload, or undefined. */
  get(type: number): Uint8Array | undefined {
    return this.byType.get(type);
  }

  /**
   * The payload of a fixed-size attribute: what the kernel's nla_put_u8/u16/
   * u32/u64 write is exactly that size, so any other length is `EBADMSG`
   * rather than a value read from part of it.
   */
  private need(type: number, name: string, size: number): DataView | undefined {
    const d = this.byType.get(type);
    if (d === undefined) return undefined;
    if (d.length !== size) throw badMessage(`${this.where}: ${name} has ${d.length} bytes, ${size === 1 ? 'an' : 'a'} ${size * 8}-bit value has ${size}`);
    return new DataView(d.buffer, d.byteOffset, d.byteLength);
  }

  /** An unsigned 8-bit value, or undefined if absent (`EBADMSG` if its payload is not 1 byte). */
  u8(type: number, name: string): number | undefined {
    return this.need(type, name, 1)?.getUint8(0);
  }

  /** An unsigned 16-bit value, or undefined if absent (`EBADMSG` if its payload is not 2 bytes). */
  u16(type: number, name: string): number | undefined {
    return this.need(type, name, 2)?.getUint16(0, true);
  }

  /** An unsigned 32-bit value, or undefined if absent (`EBADMSG` if its payload is not 4 bytes). */
  u32(type: number, name: string): number | undefined {
    return this.need(type, name, 4)?.getUint32(0, true);
  }

  /** A signed 32-bit value, or undefined if absent (`EBADMSG` if its payload is not 4 bytes). */
  s32(type: number, name: string): number | undefined {
    return this.need(type, name, 4)?.getInt32(0, true);
  }

  /** An unsigned 64-bit value, or undefined if absent (`EBADMSG` if its payload is not 8 bytes). */
  u64(type: number, name: string): bigint | undefined {
    return this.need(type, name, 8)?.getBigUint64(0, true);
  }

  /** A NUL-terminated string (bytes after the first NUL are ignored), or undefined. */
  string(type: number, name: string): string | undefined {
    const d = this.byType.get(type);
    if (d === undefined) return undefined;
    const nul = d.indexOf(0);
    if (nul < 0) throw badMessage(`${this.where}: ${name} is not NUL-terminated`);
    return Buffer.from(d.buffer, d.byteOffset, nul).toString('utf8');
  }

  /** A nested attribute set, or undefined if absent. */
  nested(type: number, name: string): AttrTable | undefined {
    const d = this.byType.get(type);
    return d === undefined ? undefined : new AttrTable(d, `${this.where}.${name}`);
  }
}

/**
 * A fixed-layout struct inside a payload, read with bounds checks: reading
 * past `size` (what the caller requires) is impossible, and a payload shorter
 * than `size` is `EBADMSG`.
 */
export class StructReader {
  private readonly view: DataView;

  /** Checks that `data` holds at least `size` bytes of the struct `name`. */
  constructor(data: Uint8Array, size: number, name: string) {
    if (data.length < size) throw badMessage(`${name} has ${data.length} bytes, needs ${size}`);
    this.view = new DataView(data.buffer, data.byteOffset, size);
  }

  /** Unsigned 8-bit field at `off`. */
  u8(off: number): number {
    return this.view.getUint8(off);
  }
  /** Signed 8-bit field at `off`. */
  s8(off: number): number {
    return this.view.getInt8(off);
  }
  /** Unsigned 16-bit field at `off`. */
  u16(off: number): number {
    return this.view.getUint16(off, true);
  }
  /** Signed 16-bit field at `off`. */
  s16(off: number): number {
    return this.view.getInt16(off, true);
  }
  /** Unsigned 32-bit field at `off`. */
  u32(off: number): number {
    return this.view.getUint32(off, true);
  }
  /** Signed 32-bit field at `off`. */
  s32(off: number): number {
    return this.view.getInt32(off, true);
  }
  /** Unsigned 64-bit field at `off`. */
  u64(off: number): bigint {
    return this.view.getBigUint64(off, true);
  }
  /** Signed 64-bit field at `off`. */
  s64(off: number): bigint {
    return this.view.getBigInt64(off, true);
  }
}
