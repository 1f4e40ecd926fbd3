/** Reads the byte dumps strace writes with `-e write=FD -e read=FD -xx` (`| 00000  5c 00 ...  text |`). */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** One dumped buffer: the syscall it belongs to and its bytes. */
export interface StraceBuffer {
  readonly syscall: 'sendmsg' | 'recvmsg';
  readonly bytes: Buffer;
}

/** The buffers of a capture in test/perip/vectors, in order. */
export function straceBuffers(name: string): StraceBuffer[] {
  const text = fs.readFileSync(path.join(__dirname, 'vectors', name), 'utf8');
  const out: StraceBuffer[] = [];
  let syscall: StraceBuffer['syscall'] = 'sendmsg';
  let current: number[] | undefined;
  for (const line of text.split('\n')) {
    const call = /^(sendmsg|recvmsg)\(/.exec(line);
    if (call) syscall = call[1] as StraceBuffer['syscall'];
    if (/^ \* \d+ bytes in buffer/.test(line)) {
      current = [];
      out.push({ syscall, bytes: Buffer.alloc(0) });
    }
    const dump = /^ \| [0-9a-f]{5}  (.{48})/.exec(line);
    if (dump && current) {
      for (const hex of dump[1].trim().split(/\s+/)) if (hex) current.push(parseInt(hex, 16));
      out[out.length - 1] = { syscall, bytes: Buffer.from(current) };
    }
  }
  return out;
}
