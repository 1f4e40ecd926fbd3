// MibMap: levels as the seed's snmp_map_add_mapping / snmp_map_level.
import {
  LINUX_MIB_FIELDS,
  MibMap,
  SEED_LINUX_DEFAULT,
  SEED_LINUX_EXCLUDE,
  SEED_TCP_DEFAULT,
  SEED_TCP_EXCLUDE,
  TCP_MIB_FIELDS,
  IpStatsTable,
} from '../../lib';

function seedTcpMap(): MibMap {
  const map = new MibMap(TCP_MIB_FIELDS);
  map.addMapping(0, SEED_TCP_DEFAULT);
  map.addMapping(1, null, SEED_TCP_EXCLUDE);
  return map;
}

describe('MibMap', () => {
  test('the seed TCP setup: level 0 the red flags, level 1 every other field but the excluded', () => {
    const map = seedTcpMap();
    expect(map.fieldsAt(0)).toEqual(['AttemptFails', 'EstabResets', 'RetransSegs']);
    const rest = TCP_MIB_FIELDS.filter((f) => !SEED_TCP_DEFAULT.includes(f) && !SEED_TCP_EXCLUDE.includes(f));
    expect(map.fieldsAt(1)).toEqual(rest);
    expect(map.levelOf('RetransSegs')).toBe(0);
    expect(map.levelOf('InSegs')).toBe(1);
    expect(map.levelOf('RtoMin')).toBeUndefined();
  });

  test('the seed LINUX setup: an excluded field that level 0 holds is no conflict', () => {
    const map = new MibMap(LINUX_MIB_FIELDS);
    map.addMapping(0, SEED_LINUX_DEFAULT);
    map.addMapping(1, null, SEED_LINUX_EXCLUDE);
    expect(map.levelOf('TCPDSACKOldSent')).toBe(0); // in level 0 and in the exclude list
    expect(map.levelOf('TW')).toBeUndefined();
    expect(map.fieldsAt(0).length + map.fieldsAt(1).length).toBe(LINUX_MIB_FIELDS.length - SEED_LINUX_EXCLUDE.length + 1);
  });

  test('the ready MIB definitions are the running kernel\'s names', () => {
    const fs = require('node:fs') as typeof import('node:fs');
    const snmp = fs.readFileSync('/proc/net/snmp', 'utf8').split('\n').find((l) => l.startsWith('Tcp:'))!;
    expect(snmp.split(' ').slice(1)).toEqual(expect.arrayContaining(['AttemptFails', 'EstabResets', 'RetransSegs', 'InSegs']));
    const netstat = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n').find((l) => l.startsWith('TcpExt:'))!;
    for (const f of SEED_LINUX_DEFAULT) expect(netstat.split(' ')).toContain(f);
    expect(new Set(TCP_MIB_FIELDS).size).toBe(TCP_MIB_FIELDS.length);
    expect(new Set(LINUX_MIB_FIELDS).size).toBe(LINUX_MIB_FIELDS.length);
  });

  test('a field in two levels is EEXIST, a level mapped twice is EEXIST', () => {
    const map = new MibMap(['a', 'b', 'c']);
    map.addMapping(0, ['a']);
    expect(() => map.addMapping(1, ['b', 'a'])).toThrow(expect.objectContaining({ code: 'EEXIST', message: expect.stringMatching(/^fields\[1\]: "a" \(already mapped at level 0\)/) }));
    expect(map.levelOf('b')).toBeUndefined(); // nothing of the failed call stays
    expect(() => map.addMapping(1, ['b', 'b'])).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(() => map.addMapping(0, ['c'])).toThrow(expect.objectContaining({ code: 'EEXIST' }));
  });

  test('unknown fields, levels and values are EINVAL with the field named', () => {
    const map = new MibMap(['a', 'b']);
    expect(() => map.addMapping(0, ['zz' as 'a'])).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^fields\[0\]: "zz"/) }));
    expect(() => map.addMapping(0, null, ['zz' as 'a'])).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^exclude\[0\]: "zz"/) }));
    expect(() => map.addMapping(2, ['a'])).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^level: 2 /) }));
    expect(() => (map.level = 2)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => (map.level = 0.5)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => map.levelOf('nope' as 'a')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new MibMap(['a', 'a'])).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new MibMap([])).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    for (const bad of ['__proto__', 'constructor', 'toString', 'a\0b', 'rx-bytes', '1st']) {
      expect(() => new MibMap([bad, 'b'])).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^fields\[0\]: .* \(expected an identifier/) }));
    }
  });

  test('deleteMapping unmaps a level; a map in use by a table is EBUSY to change', () => {
    const map = new MibMap(['a', 'b']);
    map.addMapping(0, ['a']);
    map.deleteMapping(0);
    expect(map.levelOf('a')).toBeUndefined();
    map.addMapping(0, null);
    expect(map.fieldsAt(0)).toEqual(['a', 'b']);
    new IpStatsTable(map);
    expect(() => map.deleteMapping(0)).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    expect(() => map.addMapping(1, ['a'])).toThrow(expect.objectContaining({ code: 'EBUSY' }));
  });

  test('the level switches at run time and decides what counts', () => {
    const map = seedTcpMap();
    const inSegs = map.index('InSegs');
    const retrans = map.index('RetransSegs');
    const rtoMin = map.index('RtoMin');
    expect([map.level, map.counts(retrans), map.counts(inSegs)]).toEqual([0, true, false]);
    map.level = 1;
    expect([map.counts(retrans), map.counts(inSegs), map.counts(rtoMin)]).toEqual([true, true, false]);
    const attached = MibMap.attach(map.handle);
    expect(attached.level).toBe(1);
    map.level = 0;
    expect(attached.level).toBe(0); // one shared level word
    expect(attached.fieldsAt(1)).toEqual(map.fieldsAt(1));
  });
});
