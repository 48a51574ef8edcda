/*
 * lwIP hooks (lwipopts.h: LWIP_HOOK_FILENAME), declared for the lwIP files that call them.
 */
#ifndef TG_LWIP_HOOKS_H
#define TG_LWIP_HOOKS_H

#include "lwip/arch.h"

/* A TCP initial sequence number nobody else can predict (sys_arch.c). */
u32_t tg_tcp_isn(void);

#endif
