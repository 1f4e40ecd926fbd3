/**
 * Traffic control over rtnetlink: {@link Tc} for qdiscs, classes and filters
 * in any network namespace, the per-kind option types, and tc's units.
 * @module
 */
export { Tc, TcQdiscs, TcClasses, TcFilters, type TcOpenOptions, type TcResult, type QdiscInfo, type ClassInfo, type FilterInfo } from './tc';
export type {
  Device,
  QdiscSpec,
  QdiscTarget,
  QdiscCommon,
  QdiscDeleteSpec,
  ClassSpec,
  ClassDeleteSpec,
  FilterSpec,
  FilterTarget,
  FilterDeleteSpec,
  FilterProtocol,
  Operation,
} from './requests';
export { Psched, type LinkLayer, type BurstRounding } from './psched';
export { parseRate, parseSize, parseTime, parseTime64, parsePercent, formatRate, formatSize, formatTime, type Rate, type Size, type Time, type Percent } from './units';
export { parseQdiscHandle, parseClassId, formatHandle, makeHandle, type Handle } from './handle';
export type { TcStats, TcRateEstimate } from './stats';
export type { TcEstimatorOptions, EstimatorOptions } from './tca-rate';
export type { FifoOptions, FifoInfo } from './kinds/fifo';
export type { TbfOptions, TbfInfo } from './kinds/tbf';
export type { HtbQdiscOptions, HtbQdiscInfo, HtbClassOptions, HtbClassInfo, HtbClassXstats } from './kinds/htb';
export type { FqOptions, FqInfo, FqXstats } from './kinds/fq';
export type { FqCodelOptions, FqCodelInfo, FqCodelXstats } from './kinds/fq_codel';
export type { NetemOptions, NetemInfo } from './kinds/netem';
export type { U32Options, U32Match, U32Info, U32Key } from './filters/u32';
export { NetlinkSocket, type NetlinkSocketOptions, type NetlinkReply } from '../netlink';
