import fc from 'fast-check';
import { AttrTable, ByteWriter, MessageWriter, StructReader, decodeDone, decodeError, nl, parseAttrs, parseMessages } from '../../lib/netlink';
import { kernelError } from '../../lib/netlink/errors';
import { decodesOrRefuses } from '../helpers/tc';

/** A reply as the kernel lays out NLMSG_ERROR with NETLINK_CAP_ACK and extended-ack TLVs. */
function errorReply(seq: number, errno: number, tlvs: (w: ByteWriter) => void, capped = true): Buffer {
  const w = new MessageWriter(nl.NLMSG_ERROR, (capped ? nl.NLM_F_CAPPED : 0) | nl.NLM_F_ACK_TLVS);
  w.s32(-errno);
  // the echoed request header: a 36-byte request of type 36
  w.u32(capped ? 16 : 36);
  w.u16(36);
  w.u16(nl.NLM_F_REQUEST | nl.NLM_F_ACK);
  w.u32(seq);
  w.u32(0);
  if (!capped) w.zeros(20);
  tlvs(w);
  return w.finish(seq);
}

describe('attributes', () => {
  test('lay out as iproute2 does: 4-byte header, payload, zero padding; nests cover padded children', () => {
    const w = new ByteWriter();
    w.attrString(1, 'htb'); // 4 + "htb\0"
    w.nest(2, () => {
      w.attrU8(7, 0xaa); // 4 + 1, padded to 8
      w.attrU32(5, 0x01020304);
    });
    w.attrFlag(9);
    expect(w.view().toString('hex')).toBe(
      '0800' + '0100' + '68746200' + // TCA_KIND "htb"
        '1400' + '0200' + // nest, 20 bytes
        '0500' + '0700' + 'aa000000' +
        '0800' + '0500' + '04030201' +
        '0400' + '0900',
    );
  });

  test('AttrTable reads values back; the last of a repeated type counts, as nla_parse does', () => {
    const w = new ByteWriter();
    w.attrU32(1, 7);
    w.attrU32(1, 9);
    w.attrU64(2, 2n ** 40n + 3n);
    w.attrString(3, 'fq_codel');
    w.nest(4, () => w.attrU16(1, 513));
    const t = new AttrTable(w.view());
    expect(t.u32(1, 'a')).toBe(9);
    expect(t.u64(2, 'b')).toBe(2n ** 40n + 3n);
    expect(t.string(3, 'c')).toBe('fq_codel');
    expect(t.nested(4, 'd')?.u16(1, 'e')).toBe(513);
    expect(t.u32(99, 'absent')).toBeUndefined();
  });

  test('a short payload is EBADMSG naming the attribute, never a wrong value', () => {
    const w = new ByteWriter();
    w.attrU16(1, 5);
    const t = new AttrTable(w.view(), 'options');
    expect(() => t.u32(1, 'limit')).toThrow(expect.objectContaining({ code: 'EBADMSG', message: expect.stringContaining('options: limit has 2 bytes, a 32-bit value has 4') }));
  });

  test('a payload longer than its type is EBADMSG too: no value is read from part of it', () => {
    const w = new ByteWriter();
    w.attrU64(1, 2n ** 32n + 7n);
    w.attrU32(2, 0x01020304);
    w.attrU16(3, 0x0102);
    const t = new AttrTable(w.view(), 'options');
    expect(() => t.u32(1, 'limit')).toThrow(expect.objectContaining({ code: 'EBADMSG', message: expect.stringContaining('limit has 8 bytes, a 32-bit value has 4') }));
    expect(() => t.s32(1, 'limit')).toThrow(expect.objectContaining({ code: 'EBADMSG' }));
    expect(() => t.u16(2, 'mpu')).toThrow(expect.objectContaining({ code: 'EBADMSG', message: expect.stringContaining('mpu has 4 bytes, a 16-bit value has 2') }));
    expect(() => t.u8(3, 'flag')).toThrow(expect.objectContaining({ code: 'EBADMSG', message: expect.stringContaining('flag has 2 bytes, an 8-bit value has 1') }));
    expect(() => t.u64(2, 'rate64')).toThrow(expect.objectContaining({ code: 'EBADMSG' }));
    // each read at its own size
    expect([t.u64(1, 'a'), t.u32(2, 'b'), t.u16(3, 'c')]).toEqual([2n ** 32n + 7n, 0x01020304, 0x0102]);
  });

  test('truncated and overlong attributes are EBADMSG', () => {
    const w = new ByteWriter();
    w.attrU32(1, 1);
    const bytes = w.view();
    expect(() => parseAttrs(bytes.subarray(0, 6))).toThrow(expect.objectContaining({ code: 'EBADMSG' }));
    const long = Buffer.from(bytes);
    long.writeUInt16LE(12, 0);
    expect(() => parseAttrs(long)).toThrow(/length 12, only 8 bytes left/);
    const short = Buffer.from(bytes);
    short.writeUInt16LE(2, 0);
    expect(() => parseAttrs(short)).toThrow(/length 2 \(at least 4\)/);
  });

  test('StructReader refuses payloads shorter than the struct', () => {
    expect(() => new StructReader(new Uint8Array(10), 12, 'tc_ratespec')).toThrow(/tc_ratespec has 10 bytes, needs 12/);
    const r = new StructReader(Uint8Array.from([1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]), 8, 's');
    expect(r.u32(0)).toBe(1);
    expect(r.s32(4)).toBe(-1);
  });
});

describe('messages', () => {
  test('MessageWriter fills length, type, flags, seq and pid', () => {
    const w = new MessageWriter(nl.RTM_GETQDISC, nl.NLM_F_DUMP);
    w.zeros(20);
    const b = w.finish(0x01020304, 7);
    expect(b.length).toBe(36);
    expect(b.readUInt32LE(0)).toBe(36);
    expect(b.readUInt16LE(4)).toBe(nl.RTM_GETQDISC);
    expect(b.readUInt16LE(6)).toBe(nl.NLM_F_DUMP);
    expect(b.readUInt32LE(8)).toBe(0x01020304);
    expect(b.readUInt32LE(12)).toBe(7);
  });

  test('parseMessages splits a datagram, the last message may lack padding', () => {
    const a = new MessageWriter(nl.RTM_NEWQDISC, nl.NLM_F_MULTI);
    a.zeros(5);
    const b = new MessageWriter(nl.NLMSG_DONE, nl.NLM_F_MULTI);
    b.s32(0);
    const aBytes = Buffer.concat([a.finish(1), Buffer.alloc(3)]); // 21 bytes + padding
    const msgs = parseMessages(Buffer.concat([aBytes, b.finish(1)]));
    expect(msgs.map((m) => [m.type, m.payload.length])).toEqual([
      [nl.RTM_NEWQDISC, 5],
      [nl.NLMSG_DONE, 4],
    ]);
    expect(parseMessages(a.finish(2)).length).toBe(1);
  });

  test('a length beyond the datagram or below the header is EBADMSG', () => {
    const a = new MessageWriter(nl.RTM_NEWQDISC, 0);
    a.zeros(8);
    const bytes = Buffer.from(a.finish(1));
    expect(() => parseMessages(bytes.subarray(0, 20))).toThrow(/claims 24 bytes, 20 available/);
    bytes.writeUInt32LE(8, 0);
    expect(() => parseMessages(bytes)).toThrow(expect.objectContaining({ code: 'EBADMSG' }));
    expect(() => parseMessages(Buffer.alloc(7))).toThrow(/7 stray bytes/);
  });

  test('decodeError reads errno and the extended ack, capped or not', () => {
    for (const capped of [true, false]) {
      const reply = errorReply(5, 2, (w) => {
        w.attrString(nl.NLMSGERR_ATTR_MSG, 'Specified qdisc kind is unknown');
        w.attrU32(nl.NLMSGERR_ATTR_OFFS, 36);
      }, capped);
      const [msg] = parseMessages(reply);
      expect(decodeError(msg)).toEqual({ errno: 2, message: 'Specified qdisc kind is unknown', offset: 36 });
    }
  });

  test('an attribute the kernel found missing (NLMSGERR_ATTR_MISS_TYPE/MISS_NEST) is named in the error', () => {
    const reply = errorReply(5, 22, (w) => {
      w.attrString(nl.NLMSGERR_ATTR_MSG, 'Missing required attribute');
      w.attrU32(nl.NLMSGERR_ATTR_MISS_TYPE, 7);
      w.attrU32(nl.NLMSGERR_ATTR_MISS_NEST, 36);
    });
    const ack = decodeError(parseMessages(reply)[0]);
    expect(ack).toEqual({ errno: 22, message: 'Missing required attribute', missingType: 7, missingNest: 36 });
    const labels = (offset: number) => (offset === 36 ? 'tbf options' : undefined);
    expect(kernelError('qdisc add', ack, labels)).toMatchObject({
      code: 'EINVAL',
      extack: 'Missing required attribute',
      message: 'qdisc add: Missing required attribute (the kernel missed attribute type 7 in tbf options)',
    });
    // a nest kernkit did not label is given by its offset; no nest, no "in"
    expect(kernelError('qdisc add', ack).message).toBe('qdisc add: Missing required attribute (the kernel missed attribute type 7 in the nest at offset 36)');
    expect(kernelError('qdisc add', { errno: 22, missingType: 1 }).message).toBe('qdisc add: Invalid argument (the kernel missed attribute type 1)');
  });

  test('an ack with a message is a warning (errno 0)', () => {
    const [msg] = parseMessages(errorReply(5, 0, (w) => w.attrString(nl.NLMSGERR_ATTR_MSG, 'quantum of class 10010 is small. Consider r2q change.')));
    expect(decodeError(msg)).toEqual({ errno: 0, message: 'quantum of class 10010 is small. Consider r2q change.' });
  });

  test('decodeDone reads a dump error', () => {
    const w = new MessageWriter(nl.NLMSG_DONE, nl.NLM_F_MULTI | nl.NLM_F_ACK_TLVS);
    w.s32(-22);
    w.attrString(nl.NLMSGERR_ATTR_MSG, 'nope');
    expect(decodeDone(parseMessages(w.finish(3))[0])).toEqual({ errno: 22, message: 'nope' });
  });

  test('an NLMSG_ERROR too short for its header is EBADMSG', () => {
    const w = new MessageWriter(nl.NLMSG_ERROR, 0);
    w.s32(-1);
    expect(() => decodeError(parseMessages(w.finish(1))[0])).toThrow(expect.objectContaining({ code: 'EBADMSG' }));
  });
});

describe('decoder robustness (property-based)', () => {
  test('random bytes never crash the message, attribute and ack decoders', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        decodesOrRefuses(() => {
          for (const m of parseMessages(bytes)) {
            if (m.type === nl.NLMSG_ERROR) decodeError(m);
            if (m.type === nl.NLMSG_DONE) decodeDone(m);
            const t = new AttrTable(m.payload);
            t.u32(1, 'x');
            t.u64(2, 'y');
            t.string(3, 'z');
          }
        });
        decodesOrRefuses(() => parseAttrs(bytes));
      }),
      { numRuns: 3000 },
    );
  });

  test('truncating or corrupting a valid error reply never yields a crash', () => {
    const reply = errorReply(9, 22, (w) => {
      w.attrString(nl.NLMSGERR_ATTR_MSG, 'Invalid quantum');
      w.attrU32(nl.NLMSGERR_ATTR_OFFS, 44);
    }, false);
    fc.assert(
      fc.property(fc.nat(reply.length), fc.array(fc.tuple(fc.nat(reply.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), (cut, flips) => {
        const bytes = Buffer.from(reply.subarray(0, cut));
        for (const [at, v] of flips) if (at < bytes.length) bytes[at] = v;
        decodesOrRefuses(() => {
          for (const m of parseMessages(bytes)) if (m.type === nl.NLMSG_ERROR) decodeError(m);
        });
      }),
      { numRuns: 3000 },
    );
  });
});
