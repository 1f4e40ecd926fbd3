/**
 * Netlink and rtnetlink numbers from the kernel's uapi headers
 * (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h).
 * @module
 */

/** Size of `struct nlmsghdr`. */
export const NLMSG_HDRLEN = 16;
/** Netlink messages and attributes are padded to 4 bytes. */
export const NLMSG_ALIGNTO = 4;

/** Control message types. */
export const NLMSG_NOOP = 1;
/** An error, or with error 0 an acknowledgement. */
export const NLMSG_ERROR = 2;
/** The end of a multipart (dump) reply. */
export const NLMSG_DONE = 3;
/** Data lost. */
export const NLMSG_OVERRUN = 4;

/** nlmsg_flags: a request. */
export const NLM_F_REQUEST = 0x01;
/** nlmsg_flags: part of a multipart reply. */
export const NLM_F_MULTI = 0x02;
/** nlmsg_flags: ask for an acknowledgement. */
export const NLM_F_ACK = 0x04;
/** nlmsg_flags: echo the request (notifications). */
export const NLM_F_ECHO = 0x08;
/** nlmsg_flags: the dump was interrupted by a change and may be inconsistent. */
export const NLM_F_DUMP_INTR = 0x10;
/** nlmsg_flags (GET): return the whole table. */
export const NLM_F_ROOT = 0x100;
/** nlmsg_flags (GET): return all matching entries. */
export const NLM_F_MATCH = 0x200;
/** nlmsg_flags (GET): a dump. */
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
/** nlmsg_flags (NEW): replace an existing object. */
export const NLM_F_REPLACE = 0x100;
/** nlmsg_flags (NEW): fail if the object exists. */
export const NLM_F_EXCL = 0x200;
/** nlmsg_flags (NEW): create the object if it does not exist. */
export const NLM_F_CREATE = 0x400;
/** nlmsg_flags (ERROR): the request was not echoed in full (NETLINK_CAP_ACK). */
export const NLM_F_CAPPED = 0x100;
/** nlmsg_flags (ERROR, DONE): extended-ack attributes follow. */
export const NLM_F_ACK_TLVS = 0x200;

/** Extended-ack attributes of an NLMSG_ERROR or NLMSG_DONE. */
export const NLMSGERR_ATTR_MSG = 1;
/** Offset in the request of the attribute that was refused. */
export const NLMSGERR_ATTR_OFFS = 2;
/** An opaque cookie. */
export const NLMSGERR_ATTR_COOKIE = 3;
/** The policy the refused attribute broke. */
export const NLMSGERR_ATTR_POLICY = 4;
/** The type of a missing attribute. */
export const NLMSGERR_ATTR_MISS_TYPE = 5;
/** Offset of the nest that lacks an attribute. */
export const NLMSGERR_ATTR_MISS_NEST = 6;

/** Attribute type flag: the payload is nested attributes. */
export const NLA_F_NESTED = 0x8000;
/** Attribute type flag: the payload is in network byte order. */
export const NLA_F_NET_BYTEORDER = 0x4000;
/** Mask of the attribute type proper. */
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

/** rtnetlink message types. */
export const RTM_NEWLINK = 16;
/** Delete a link. */
export const RTM_DELLINK = 17;
/** Get links. */
export const RTM_GETLINK = 18;
/** Create or change a qdisc. */
export const RTM_NEWQDISC = 36;
/** Delete a qdisc. */
export const RTM_DELQDISC = 37;
/** Get qdiscs. */
export const RTM_GETQDISC = 38;
/** Create or change a class. */
export const RTM_NEWTCLASS = 40;
/** Delete a class. */
export const RTM_DELTCLASS = 41;
/** Get classes. */
export const RTM_GETTCLASS = 42;
/** Create or change a filter. */
export const RTM_NEWTFILTER = 44;
/** Delete a filter. */
export const RTM_DELTFILTER = 45;
/** Get filters. */
export const RTM_GETTFILTER = 46;

/** rtnetlink multicast group: link changes (RTM_NEWLINK, RTM_DELLINK). */
export const RTNLGRP_LINK = 1;

/** Size of `struct ifinfomsg`. */
export const IFINFOMSG_LEN = 16;
/** Link attribute: the interface name. */
export const IFLA_IFNAME = 3;
/** Link attribute: the MTU (u32). */
export const IFLA_MTU = 4;
/** Link attribute: an extended-ack-friendly filter mask for dumps. */
export const IFLA_EXT_MASK = 29;
