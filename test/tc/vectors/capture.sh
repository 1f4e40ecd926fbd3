#!/usr/bin/env bash
# Records the rtnetlink request iproute2's tc sends for each command in
# commands.txt and writes them as FILE.json next to this script, for
# vectors.test.ts to compare with kernkit's encoding byte for byte.
#
#   sudo ./capture.sh                  # system tc for "tc" lines
#   sudo TC_NEW=/path/to/tc ./capture.sh   # also "tc-new" lines, with a tc from
#                                      # iproute2 6.7 or newer (fq priomap/weights)
#
# A file is rewritten in commands.txt's order, merged with what it held: a
# command skipped in this run (a "tc-new" line without TC_NEW) keeps the
# vector captured before, with that capture's interface index and psched
# where they differ from this run's. A file none of whose commands ran is
# left as it is.
#
# Each command runs against a veth in a scratch network namespace
# (kernkit-capture-<random>, or NETNS), removed on exit. tc's exit status is
# ignored: the request is sent whether or not this kernel has the kind. The
# bytes come from strace's dump of what tc writes (-e write=all); the request
# is the message whose type is RTM_NEW/DEL QDISC, TCLASS or TFILTER.
# COMMANDS (default commands.txt) and OUT_DIR (default this directory) are
# for testing the script itself.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
COMMANDS=$(realpath "${COMMANDS:-$HERE/commands.txt}")
OUT_DIR=$(realpath "${OUT_DIR:-$HERE}")
TC=${TC:-tc}
TC_NEW=${TC_NEW:-}
NS=${NETNS:-"kernkit-capture-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"}
WORK=$(mktemp -d)
cleanup() {
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link add kk0 type veth peer name kk1
IFINDEX=$(ip -n "$NS" -o link show dev kk0 | cut -d: -f1)
PSCHED=$(tr -s ' \n' ' ' < /proc/net/psched | sed 's/ $//')

: > "$WORK/records"
: > "$WORK/order"
while IFS='|' read -r file name tool args; do
  case "$file" in '' | \#*) continue ;; esac
  printf '%s\t%s\n' "$file" "$name" >> "$WORK/order"
  case "$tool" in
    tc) bin=$TC ;;
    tc-new)
      if [ -z "$TC_NEW" ]; then
        echo "skipping \"$file/$name\": needs TC_NEW (the vector already in $file.json, if any, is kept)" >&2
        continue
      fi
      bin=$TC_NEW
      ;;
    *) echo "unknown tool $tool" >&2; exit 1 ;;
  esac
  version=$("$bin" -V | head -1)
  # shellcheck disable=SC2086 # the arguments are meant to split
  strace -qq -f -e trace=sendmsg -e write=all -o "$WORK/trace" "$bin" -n "$NS" $args >/dev/null 2>&1 || true
  printf '%s\t%s\t%s\t%s\n' "$file" "$name" "$version" "$args" >> "$WORK/records"
  cat "$WORK/trace" > "$WORK/trace.$(wc -l < "$WORK/records")"
done < "$COMMANDS"

# Turn the hex dumps into JSON: one file per FILE, one vector per command,
# merged with the vectors of the commands this run skipped.
node - "$WORK" "$IFINDEX" "$PSCHED" "$OUT_DIR" <<'JS'
const fs = require('fs');
const [work, ifindexText, psched, outDir] = process.argv.slice(2);
const ifindex = Number(ifindexText);
const lines = (f) => fs.readFileSync(`${work}/${f}`, 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t'));
const records = lines('records');
const REQUEST_TYPES = new Set([36, 37, 40, 41, 44, 45]);
const captured = new Map(); // "file\tname" -> vector
records.forEach(([file, name, version, args], i) => {
  const trace = fs.readFileSync(`${work}/trace.${i + 1}`, 'utf8');
  // Each sendmsg's buffer is dumped as " | 00000  40 00 00 00 ...  |ascii|" lines.
  const buffers = trace.split(/^\d+\s+sendmsg\(/m).slice(1).map((chunk) =>
    Buffer.from(
      chunk
        .split('\n')
        .filter((l) => /^ \| [0-9a-f]{5}  /.test(l))
        .map((l) => l.slice(10, 58).replace(/\s+/g, ''))
        .join(''),
      'hex',
    ),
  );
  const request = buffers.find((b) => b.length >= 16 && REQUEST_TYPES.has(b.readUInt16LE(4)));
  if (!request) throw new Error(`no tc request captured for ${file}/${name}`);
  captured.set(`${file}\t${name}`, { name, tc: version, command: `tc ${args}`, hex: request.toString('hex') });
});
const files = [...new Set(lines('order').map(([file]) => file))];
for (const file of files) {
  const path = `${outDir}/${file}.json`;
  const names = lines('order').filter(([f]) => f === file).map(([, name]) => name);
  if (!names.some((name) => captured.has(`${file}\t${name}`))) {
    console.log(`kept ${file}.json as it was (none of its commands ran)`);
    continue;
  }
  const before = fs.existsSync(path) ? JSON.parse(fs.readFileSync(path, 'utf8')) : { vectors: [] };
  const old = new Map(before.vectors.map((v) => [v.name, v]));
  const vectors = [];
  let kept = 0;
  for (const name of names) {
    const fresh = captured.get(`${file}\t${name}`);
    if (fresh) {
      vectors.push(fresh);
      continue;
    }
    const prior = old.get(name);
    if (!prior) continue;
    // A vector from an earlier run keeps that run's interface index and clock.
    const priorIfindex = prior.ifindex ?? before.ifindex;
    const priorPsched = prior.psched ?? before.psched;
    const { ifindex: _i, psched: _p, ...rest } = prior;
    const v = { ...rest };
    if (priorIfindex !== ifindex) v.ifindex = priorIfindex;
    if (priorPsched !== psched) v.psched = priorPsched;
    vectors.push(v);
    kept++;
  }
  const out = { captured: 'capture.sh', ifindex, psched, vectors };
  fs.writeFileSync(path, JSON.stringify(out, null, 2) + '\n');
  console.log(`wrote ${file}.json (${vectors.length} vectors, ${kept} kept from before)`);
}
JS
