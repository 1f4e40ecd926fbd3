/** Reading `ss -tin` and `ss -E -tin` text: the test's independent view of the kernel's sockets. */

/** One socket as ss printed it. */
export interface SsSocket {
  readonly state: string;
  readonly localAddr: string;
  readonly localPort: number;
  readonly peerAddr: string;
  readonly peerPort: number;
  /** The info line's `name:value` pairs. */
  readonly kv: Readonly<Record<string, string>>;
}

function hostPort(text: string): [string, number] {
  const m = /^\[?(.*?)\]?:(\d+|\*)$/.exec(text);
  if (!m) throw new Error(`ss address ${text}`);
  return [m[1].replace(/%.*$/, ''), m[2] === '*' ? 0 : Number(m[2])];
}

/** The sockets in ss output: a line per socket, its tcp_info on the next (tab-indented) line. */
export function parseSs(text: string): SsSocket[] {
  const lines = text.split('\n');
  const out: SsSocket[] = [];
  for (let i = 0; i < lines.length; i++) {
    const cols = lines[i].trim().split(/\s+/);
    if (cols.length < 5 || cols[0] === 'State' || cols[0] === 'Recv-Q' || lines[i].startsWith('\t')) continue;
    const [localAddr, localPort] = hostPort(cols[3]);
    const [peerAddr, peerPort] = hostPort(cols[4]);
    const kv: Record<string, string> = {};
    if (lines[i + 1]?.startsWith('\t')) {
      for (const tok of lines[i + 1].trim().split(/\s+/)) {
        const c = tok.indexOf(':');
        if (c > 0) kv[tok.slice(0, c)] = tok.slice(c + 1);
      }
      i++;
    }
    out.push({ state: cols[0], localAddr, localPort, peerAddr, peerPort, kv });
  }
  return out;
}

/** The counters the collector maps, as ss prints them for one socket (absent means 0). */
export function ssCounters(s: SsSocket): Record<string, number> {
  const n = (k: string): number => Number(s.kv[k] ?? 0);
  return {
    InSegs: n('segs_in'),
    OutSegs: n('segs_out'),
    RetransSegs: s.kv.retrans ? Number(s.kv.retrans.split('/')[1]) : 0,
    BytesAcked: n('bytes_acked'),
    BytesReceived: n('bytes_received'),
    BytesSent: n('bytes_sent'),
    BytesRetrans: n('bytes_retrans'),
    DataSegsIn: n('data_segs_in'),
    DataSegsOut: n('data_segs_out'),
  };
}
