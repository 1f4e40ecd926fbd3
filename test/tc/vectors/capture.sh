#!/usr/bin/env bash
# Records the rtnetlink request iproute2's tc sends for each command in
# commands.txt and writes them as FILE.json next to this script, for
# vectors.test.ts to compare with kernkit's encoding byte for byte.
#
#   sudo ./capture.sh                  # system tc for "tc" lines
#   sudo TC_NEW=/path/to/tc ./capture.sh   # also "tc-new" lines, with a tc from
#                                      # iproute2 6.7 or newer (fq priomap/weights)
#
# Each command runs against a veth in a scratch network namespace
# (kernkit-capture-<random>), removed on exit. tc's exit status is ignored:
# the request is sent whether or not this kernel has the kind. The bytes come
# from strace's dump of what tc writes (-e write=all); the request is the
# message whose type is RTM_NEW/DEL QDISC, TCLASS or TFILTER.
set -euo pipefail
cd "$(dirname "$0")"
TC=${TC:-tc}
TC_NEW=${TC_NEW:-}
NS="kernkit-capture-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
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
while IFS='|' read -r file name tool args; do
  case "$file" in '' | \#*) continue ;; esac
  case "$tool" in
    tc) bin=$TC ;;
    tc-new)
      if [ -z "$TC_NEW" ]; then
        echo "skipping \"$file/$name\": needs TC_NEW" >&2
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
done < commands.txt

# Turn the hex dumps into JSON: one file per FILE, one vector per command.
node - "$WORK" "$IFINDEX" "$PSCHED" <<'JS'
const fs = require('fs');
const [work, ifindex, psched] = process.argv.slice(2);
const records = fs.readFileSync(`${work}/records`, 'utf8').trim().split('\n').map((l) => l.split('\t'));
const REQUEST_TYPES = new Set([36, 37, 40, 41, 44, 45]);
const files = new Map();
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
  if (!files.has(file)) files.set(file, []);
  files.get(file).push({ name, tc: version, command: `tc ${args}`, hex: request.toString('hex') });
});
for (const [file, vectors] of files) {
  const out = { captured: 'capture.sh', ifindex: Number(ifindex), psched, vectors };
  fs.writeFileSync(`${file}.json`, JSON.stringify(out, null, 2) + '\n');
  console.log(`wrote ${file}.json (${vectors.length} vectors)`);
}
JS
