/**
 * The kernel's TCP MIB and LINUX MIB field names, ready for a {@link MibMap}:
 * the names `/proc/net/snmp` (`Tcp:`) and `/proc/net/netstat` (`TcpExt:`)
 * print, in the kernel's order (`snmp4_tcp_list` and `snmp4_net_list` of
 * net/ipv4/proc.c, as of Linux 6.18), plus the seed's two example levels.
 * @module
 */

/** `TCP_MIB_*` (include/uapi/linux/snmp.h) as named in `/proc/net/snmp`. */
export const TCP_MIB_FIELDS = Object.freeze([
  'RtoAlgorithm',
  'RtoMin',
  'RtoMax',
  'MaxConn',
  'ActiveOpens',
  'PassiveOpens',
  'AttemptFails',
  'EstabResets',
  'CurrEstab',
  'InSegs',
  'OutSegs',
  'RetransSegs',
  'InErrs',
  'OutRsts',
  'InCsumErrors',
] as const);

/** One field of the TCP MIB. */
export type TcpMibField = (typeof TCP_MIB_FIELDS)[number];

/** `LINUX_MIB_*` (include/uapi/linux/snmp.h) as named in `/proc/net/netstat` (`TcpExt:`). */
export const LINUX_MIB_FIELDS = Object.freeze([
  'SyncookiesSent',
  'SyncookiesRecv',
  'SyncookiesFailed',
  'EmbryonicRsts',
  'PruneCalled',
  'RcvPruned',
  'OfoPruned',
  'OutOfWindowIcmps',
  'LockDroppedIcmps',
  'ArpFilter',
  'TW',
  'TWRecycled',
  'TWKilled',
  'PAWSActive',
  'PAWSEstab',
  'BeyondWindow',
  'TSEcrRejected',
  'PAWSOldAck',
  'PAWSTimewait',
  'DelayedACKs',
  'DelayedACKLocked',
  'DelayedACKLost',
  'ListenOverflows',
  'ListenDrops',
  'TCPHPHits',
  'TCPPureAcks',
  'TCPHPAcks',
  'TCPRenoRecovery',
  'TCPSackRecovery',
  'TCPSACKReneging',
  'TCPSACKReorder',
  'TCPRenoReorder',
  'TCPTSReorder',
  'TCPFullUndo',
  'TCPPartialUndo',
  'TCPDSACKUndo',
  'TCPLossUndo',
  'TCPLostRetransmit',
  'TCPRenoFailures',
  'TCPSackFailures',
  'TCPLossFailures',
  'TCPFastRetrans',
  'TCPSlowStartRetrans',
  'TCPTimeouts',
  'TCPLossProbes',
  'TCPLossProbeRecovery',
  'TCPRenoRecoveryFail',
  'TCPSackRecoveryFail',
  'TCPRcvCollapsed',
  'TCPBacklogCoalesce',
  'TCPDSACKOldSent',
  'TCPDSACKOfoSent',
  'TCPDSACKRecv',
  'TCPDSACKOfoRecv',
  'TCPAbortOnData',
  'TCPAbortOnClose',
  'TCPAbortOnMemory',
  'TCPAbortOnTimeout',
  'TCPAbortOnLinger',
  'TCPAbortFailed',
  'TCPMemoryPressures',
  'TCPMemoryPressuresChrono',
  'TCPSACKDiscard',
  'TCPDSACKIgnoredOld',
  'TCPDSACKIgnoredNoUndo',
  'TCPSpuriousRTOs',
  'TCPMD5NotFound',
  'TCPMD5Unexpected',
  'TCPMD5Failure',
  'TCPSackShifted',
  'TCPSackMerged',
  'TCPSackShiftFallback',
  'TCPBacklogDrop',
  'PFMemallocDrop',
  'TCPMinTTLDrop',
  'TCPDeferAcceptDrop',
  'IPReversePathFilter',
  'TCPTimeWaitOverflow',
  'TCPReqQFullDoCookies',
  'TCPReqQFullDrop',
  'TCPRetransFail',
  'TCPRcvCoalesce',
  'TCPOFOQueue',
  'TCPOFODrop',
  'TCPOFOMerge',
  'TCPChallengeACK',
  'TCPSYNChallenge',
  'TCPFastOpenActive',
  'TCPFastOpenActiveFail',
  'TCPFastOpenPassive',
  'TCPFastOpenPassiveFail',
  'TCPFastOpenListenOverflow',
  'TCPFastOpenCookieReqd',
  'TCPFastOpenBlackhole',
  'TCPSpuriousRtxHostQueues',
  'BusyPollRxPackets',
  'TCPAutoCorking',
  'TCPFromZeroWindowAdv',
  'TCPToZeroWindowAdv',
  'TCPWantZeroWindowAdv',
  'TCPSynRetrans',
  'TCPOrigDataSent',
  'TCPHystartTrainDetect',
  'TCPHystartTrainCwnd',
  'TCPHystartDelayDetect',
  'TCPHystartDelayCwnd',
  'TCPACKSkippedSynRecv',
  'TCPACKSkippedPAWS',
  'TCPACKSkippedSeq',
  'TCPACKSkippedFinWait2',
  'TCPACKSkippedTimeWait',
  'TCPACKSkippedChallenge',
  'TCPWinProbe',
  'TCPKeepAlive',
  'TCPMTUPFail',
  'TCPMTUPSuccess',
  'TCPDelivered',
  'TCPDeliveredCE',
  'TCPAckCompressed',
  'TCPZeroWindowDrop',
  'TCPRcvQDrop',
  'TCPWqueueTooBig',
  'TCPFastOpenPassiveAltKey',
  'TcpTimeoutRehash',
  'TcpDuplicateDataRehash',
  'TCPDSACKRecvSegs',
  'TCPDSACKIgnoredDubious',
  'TCPMigrateReqSuccess',
  'TCPMigrateReqFailure',
  'TCPPLBRehash',
  'TCPAORequired',
  'TCPAOBad',
  'TCPAOKeyNotFound',
  'TCPAOGood',
  'TCPAODroppedIcmps',
] as const);

/** One field of the LINUX MIB. */
export type LinuxMibField = (typeof LINUX_MIB_FIELDS)[number];

/** The seed's "red flag" TCP MIB counters for level 0 (`tcp_stats`). */
export const SEED_TCP_DEFAULT: readonly TcpMibField[] = Object.freeze(['AttemptFails', 'EstabResets', 'RetransSegs']);

/** TCP MIB counters the seed leaves out of every level: the kernel updates them with no socket at hand. */
export const SEED_TCP_EXCLUDE: readonly TcpMibField[] = Object.freeze(['RtoAlgorithm', 'RtoMin', 'RtoMax', 'MaxConn']);

/**
 * The seed's level-0 LINUX MIB counters (`linux_stats`). Its `LINUX_MIB_TCPLOSS`
 * no longer exists (removed in Linux 4.x): the other nine are kept.
 */
export const SEED_LINUX_DEFAULT: readonly LinuxMibField[] = Object.freeze([
  'TCPLossFailures',
  'TCPSlowStartRetrans',
  'TCPTimeouts',
  'TCPRcvCollapsed',
  'TCPDSACKOldSent',
  'TCPDSACKRecv',
  'TCPAbortOnData',
  'TCPAbortOnClose',
  'TCPAbortOnTimeout',
]);

/**
 * LINUX MIB counters the seed leaves out (`linux_exclude_stats`): `TW` and
 * `TWKilled` are `LINUX_MIB_TIMEWAITED` and `LINUX_MIB_TIMEWAITKILLED`.
 */
export const SEED_LINUX_EXCLUDE: readonly LinuxMibField[] = Object.freeze([
  'ArpFilter',
  'TCPMemoryPressures',
  'TW',
  'TWKilled',
  'TCPDSACKOldSent',
  'TCPDSACKOfoSent',
]);
