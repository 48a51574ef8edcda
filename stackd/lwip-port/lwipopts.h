/*
 * lwIP configuration for stackd: one single-threaded process (NO_SYS, raw callback API) with
 * one netif that terminates TCP and UDP for every destination (LWIP_TG_ACCEPT_ANY, from
 * stackd/lwip-patches). Everything not set here keeps lwIP 2.1.3's default from lwip/opt.h.
 *
 * This header is part of the lwip target's public interface: stackd and the tests see the very
 * same options as the library, so anything that changes a struct layout must only be changed
 * here (or through the TG_* macros below, which cmake/lwip.cmake passes to every user).
 */
#ifndef TG_LWIPOPTS_H
#define TG_LWIPOPTS_H

/* ---- System ---------------------------------------------------------------------------- */

/* stackd is one event loop; lwIP runs inside it, never on its own thread. */
#define NO_SYS 1
/* Nothing runs lwIP code concurrently and nothing calls it from a signal handler. */
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_NETCONN         0
#define LWIP_SOCKET          0
#define LWIP_CALLBACK_API    1
#define LWIP_EVENT_API       0

/*
 * Memory comes from malloc, without lwIP's fixed pools and heap: the pools would be a second,
 * hidden set of limits that fail with odd symptoms. stackd enforces its own limits on flows and
 * buffered bytes instead (DESIGN.md section 4).
 */
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 1
/* malloc returns 16-byte aligned memory; 8 keeps pbuf payloads aligned for 64-bit loads. */
#define MEM_ALIGNMENT 8

/* ---- Protocols ------------------------------------------------------------------------- */

#define LWIP_IPV4 1
#define LWIP_IPV6 1
#define LWIP_TCP  1
#define LWIP_UDP  1
#define LWIP_ICMP 1
#define LWIP_RAW  1 /* echo requests are taken after reassembly by raw pcbs: stackd/icmp.c */
/* Ethernet and ARP cost nothing in TUN mode and TAP mode needs them. */
#define LWIP_ETHERNET 1
#define LWIP_ARP      1

/* The tungate patch: the netif accepts every destination, port-0 pcbs are wildcards. */
#define LWIP_TG_ACCEPT_ANY 1

/*
 * Real hosts send 64; lwIP's default 255 would make the addresses stackd impersonates look
 * odd to the client.
 */
#define IP_DEFAULT_TTL 64

/* Fragmentation both ways: large UDP datagrams are normal (DNS over EDNS, QUIC, games). */
#define IP_REASSEMBLY   1
#define IP_FRAG         1
#define LWIP_IPV6_REASS 1
#define LWIP_IPV6_FRAG  1
/*
 * The total number of fragments held for reassembly, over all datagrams (IPv4 and IPv6 count
 * separately); lwIP drops the oldest datagram when it runs out. A 65,507-byte UDP datagram at
 * MTU 1280 is 54 fragments, so the default of 10 loses every large datagram. 128 holds two at
 * once and bounds reassembly memory to about 128 * MTU per family.
 */
#define IP_REASS_MAX_PBUFS 128
/*
 * On 64-bit the reassembly helper struct (which holds a pointer) is larger than the 8-byte
 * fragment header it would overlay: copy the header aside instead (works on 32-bit too).
 */
#define IPV6_FRAG_COPYHEADER 1

/*
 * stackd is the router the client talks to, not a host on the client's network: a router
 * advertisement from the client must not configure addresses, MTU or routes in stackd, and
 * stackd has no router to solicit. Neighbour discovery and MLD keep lwIP's defaults for TAP.
 */
#define LWIP_IPV6_AUTOCONFIG          0
#define LWIP_IPV6_SEND_ROUTER_SOLICIT 0
#define LWIP_ND6_ALLOW_RA_UPDATES     0
/*
 * The tungate patch 0005: lwIP's neighbour advertisements carry the Router flag, or a client
 * that learned the gateway from its RAs (stackd/nd_router.c) drops it as its default router.
 */
#define LWIP_TG_ND6_ROUTER 1

/* Checksums are verified on every received packet and computed on every sent one. */
#define CHECKSUM_GEN_IP      1
#define CHECKSUM_GEN_UDP     1
#define CHECKSUM_GEN_TCP     1
#define CHECKSUM_GEN_ICMP    1
#define CHECKSUM_GEN_ICMP6   1
#define CHECKSUM_CHECK_IP    1
#define CHECKSUM_CHECK_UDP   1
#define CHECKSUM_CHECK_TCP   1
#define CHECKSUM_CHECK_ICMP  1
#define CHECKSUM_CHECK_ICMP6 1
/*
 * Per-netif switches over the above: with the TUN's vnet header, TCP checksums are left to
 * the kernel on output, and one TSO super-packet at a time skips the check (stackd/offload.c).
 */
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1

/* ---- TCP ------------------------------------------------------------------------------- */

/*
 * TCP_MSS is the largest segment lwIP announces and sends; TCP_CALCULATE_EFF_SEND_MSS (on by
 * default) lowers it to what the netif MTU allows per connection. A jumbo-MTU build raises it
 * with -DTG_TCP_MSS=N (cmake -DTG_TCP_MSS=N).
 */
#ifdef TG_TCP_MSS
#define TCP_MSS TG_TCP_MSS
#else
#define TCP_MSS 1460
#endif
#if TCP_MSS < 536 || TCP_MSS > 65495
#error "TG_TCP_MSS must be within 536..65495"
#endif

/*
 * Windows and send buffers of 256 KiB, the link B flow window (CONTRACTS.md): anything smaller
 * caps a flow at window / RTT. Window scaling is what lets the receive window exceed 16 bits;
 * 0xffff << 3 is the smallest scaled window that holds 256 KiB. With LWIP_WND_SCALE,
 * tcpwnd_size_t is 32 bits, so TCP_SND_BUF may exceed 16 bits too; tcp_write(), tcp_recved()
 * and tcp_sndbuf() still take and return u16_t.
 */
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE  3
#define TCP_WND        (256 * 1024)
#define TCP_SND_BUF    (256 * 1024)
/* Segments per send buffer; lwIP's own formula, spelled out: it must fit in u16_t. */
#define TCP_SND_QUEUELEN ((4 * (TCP_SND_BUF) + (TCP_MSS - 1)) / (TCP_MSS))
/*
 * TCP_SNDLOWAT is read only by the netconn/socket layers, which are not built; 1 passes
 * init.c's check that it stays 4 * MSS below 0xffff. A jumbo MSS fails that check whatever
 * the value, so such builds skip init.c's TCP sanity checks (the other ones hold for any MSS
 * allowed above).
 */
#define TCP_SNDLOWAT 1
#if TCP_MSS > 16383
#define LWIP_DISABLE_TCP_SANITY_CHECKS 1
#endif

/* Out-of-order data is queued and SACKed: a lost segment costs one retransmit, not a window. */
#define TCP_QUEUE_OOSEQ   1
#define LWIP_TCP_SACK_OUT 1
/*
 * With malloc'ed pbufs nothing else bounds the out-of-order queue: a client sending tiny
 * segments out of order would make lwIP hold one pbuf per byte of window. 512 pbufs cover a
 * full window in 512-byte segments.
 */
#define TCP_OOSEQ_MAX_BYTES TCP_WND
#define TCP_OOSEQ_MAX_PBUFS 512

/* TIME_WAIT lasts 2 * MSL: both ends are on this host, late duplicates die within a second. */
#define TCP_MSL 1000UL
/* stackd accepts every connection at once; the consistent handshake happens before lwIP. */
#define TCP_LISTEN_BACKLOG 0
#define LWIP_TCP_KEEPALIVE 1

/* ---- Netif, statistics, debugging ------------------------------------------------------ */

#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK   0
/*
 * Initial sequence numbers. lwIP's own (tcp_next_iss) is a counter stepped by its timer, so a
 * host on the segment could predict the next one and inject into other clients' connections:
 * a gateway needs unpredictable ones (RFC 6528). tg_tcp_isn() in sys_arch.c draws them from
 * the kernel's generator; the fuzzers replace it with a counter, so that findings replay.
 */
#define LWIP_HOOK_FILENAME                                              "tg_lwip_hooks.h"
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port) tg_tcp_isn()

/* stackd counts what it needs itself; lwIP's statistics cost a store per packet. */
#define LWIP_STATS 0

/*
 * lwIP's debug messages go to the logger at debug level (sys_arch.c). Off by default: build
 * with -DTG_LWIP_DEBUG and turn modules on with e.g. -DTCP_DEBUG=LWIP_DBG_ON.
 */
#ifdef TG_LWIP_DEBUG
#define LWIP_DEBUG 1
#endif

#endif
