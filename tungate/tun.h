/*
 * The TUN device: created (or re-opened, if it exists and is persistent) and configured by
 * tungate, which keeps its fd for as long as it runs so that the device and its routes
 * outlive a tunio restart.
 */
#ifndef TG_TUN_H
#define TG_TUN_H

#include <net/if.h>

#include "config.h"

/*
 * Opens the TUN named in cfg (in cfg->netns if set), sets it non-blocking, sets its MTU and
 * address and brings it up. Writes the device's name to ifname (the kernel picks it for a
 * "%d" template). Startup only: any error is fatal, with a message saying what failed.
 */
int tg_tun_open(const struct tg_config *cfg, char ifname[IFNAMSIZ]);

/*
 * Switches to /run/netns/NAME (fatal on error) and returns an fd of the namespace to come back
 * to with tg_netns_leave(), or -1 when name is "" and nothing was switched.
 */
int tg_netns_enter(const char *name);
void tg_netns_leave(int home);

#endif
