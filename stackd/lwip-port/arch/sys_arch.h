/*
 * lwIP runs with NO_SYS=1: no threads, semaphores, mailboxes or locks, so this port has none to
 * declare. lwIP's sys.h does not even include this header in that mode; it exists because the
 * port layout expects it.
 */
#ifndef TG_LWIP_ARCH_SYS_ARCH_H
#define TG_LWIP_ARCH_SYS_ARCH_H

#endif
