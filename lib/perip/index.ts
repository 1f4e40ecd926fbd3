/**
 * Per-IP network statistics (the seed "Per IP network statistics"): MIB maps
 * with levels, address-pair tables reached by cookies, and a collector that
 * fills them with the kernel's per-socket TCP counters.
 * @module
 */
export { MibMap, MIB_LEVEL_DEFAULT, MIB_LEVEL_DIAG, MIB_LEVELS, type MibMapHandle } from './mib-map';
export {
  TCP_MIB_FIELDS,
  LINUX_MIB_FIELDS,
  SEED_TCP_DEFAULT,
  SEED_TCP_EXCLUDE,
  SEED_LINUX_DEFAULT,
  SEED_LINUX_EXCLUDE,
  type TcpMibField,
  type LinuxMibField,
} from './mib-fields';
export {
  IpStatsTable,
  TABLE_STAT_FIELDS,
  type IpStatsTableOptions,
  type IpStatsEntry,
  type IpStatsEntryHandle,
  type TableStat,
} from './table';
export { IpStatsWriter } from './writer';
export { NO_COOKIE, MAX_BUCKETS, type IpStatsCookie } from './cookie';
export { type IpFamily } from '../address';
export { jhash2, jhash2words, jhash3words } from './jhash';
export { SockDiag, type SockDiagOptions, type TcpDumpOptions } from './sock-diag';
export {
  TcpPeerCollector,
  TCP_PEER_FIELDS,
  COLLECTOR_STAT_FIELDS,
  tcpPeerMap,
  type TcpPeerField,
  type TcpPeerCollectorOptions,
  type CollectorStat,
} from './collector';
export {
  inetDiagDumpRequest,
  decodeInetDiagMessage,
  decodeTcpInfo,
  tcpInfoNumber,
  TCP_STATES,
  type InetDiagMessage,
  type InetDiagRequest,
  type TcpInfo,
  type TcpStateName,
} from '../netlink/sockdiag';
