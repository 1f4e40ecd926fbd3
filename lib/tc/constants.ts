/**
 * Numbers from the kernel's uapi headers for tc (linux/pkt_sched.h,
 * linux/pkt_cls.h, linux/rtnetlink.h, linux/gen_stats.h).
 * @module
 */

/** The root of a device's egress tree (`root`). */
export const TC_H_ROOT = 0xffffffff;
/** The ingress (and clsact) qdisc's parent. */
export const TC_H_INGRESS = 0xfffffff1;
/** clsact shares the ingress parent. */
export const TC_H_CLSACT = TC_H_INGRESS;
/** Minor of clsact's ingress hook. */
export const TC_H_MIN_INGRESS = 0xfff2;
/** Minor of clsact's egress hook. */
export const TC_H_MIN_EGRESS = 0xfff3;
/** No handle. */
export const TC_H_UNSPEC = 0;

/** Size of `struct tcmsg`. */
export const TCMSG_LEN = 20;

/** rtnetlink tc attributes (`TCA_*`). */
export const TCA_KIND = 1;
/** Kind-specific options. */
export const TCA_OPTIONS = 2;
/** Legacy `struct tc_stats`. */
export const TCA_STATS = 3;
/** Kind-specific statistics (a copy of TCA_STATS2/TCA_STATS_APP). */
export const TCA_XSTATS = 4;
/** Rate estimator configuration (`struct tc_estimator`). */
export const TCA_RATE = 5;
/** Statistics (nested `TCA_STATS_*`). */
export const TCA_STATS2 = 7;
/** Size table. */
export const TCA_STAB = 8;
/** Dump also invisible qdiscs. */
export const TCA_DUMP_INVISIBLE = 10;
/** Filter chain index. */
export const TCA_CHAIN = 11;
/** Offloaded to hardware. */
export const TCA_HW_OFFLOAD = 12;
/** Shared ingress block index. */
export const TCA_INGRESS_BLOCK = 13;
/** Shared egress block index. */
export const TCA_EGRESS_BLOCK = 14;

/** `TCA_STATS2` nested attributes. */
export const TCA_STATS_BASIC = 1;
/** Rate estimate, 32-bit. */
export const TCA_STATS_RATE_EST = 2;
/** Queue statistics. */
export const TCA_STATS_QUEUE = 3;
/** Kind-specific statistics. */
export const TCA_STATS_APP = 4;
/** Rate estimate, 64-bit. */
export const TCA_STATS_RATE_EST64 = 5;
/** Basic statistics of the hardware part. */
export const TCA_STATS_BASIC_HW = 7;
/** 64-bit packet count. */
export const TCA_STATS_PKT64 = 8;

/** `tc_ratespec.linklayer`: an old tc that knows no link layer (the kernel then uses the rate table). */
export const TC_LINKLAYER_UNAWARE = 0;
/** Ethernet: no size adjustment. */
export const TC_LINKLAYER_ETHERNET = 1;
/** ATM: sizes rounded up to 48-byte cells of 53 bytes. */
export const TC_LINKLAYER_ATM = 2;
/** Bits of `linklayer` that carry the link layer. */
export const TC_LINKLAYER_MASK = 0x0f;

/** Size of a rate table (256 u32). */
export const TC_RTAB_SIZE = 1024;

/** ETH_P_ALL in network byte order, as tc puts it in tcm_info for `filter add` without a protocol. */
export const ETH_P_ALL = 0x0003;
/** ETH_P_IP. */
export const ETH_P_IP = 0x0800;
/** ETH_P_IPV6. */
export const ETH_P_IPV6 = 0x86dd;
/** ETH_P_ARP. */
export const ETH_P_ARP = 0x0806;
/** ETH_P_8021Q. */
export const ETH_P_8021Q = 0x8100;
