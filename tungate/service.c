#include "service.h"

#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "log.h"

static struct event *watchdog;

/* Pinged from the event loop itself: a wedged loop is exactly what the watchdog must see. */
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

void tg_service_init(struct event_base *base)
{
	uint64_t usec = 0;
	struct timeval tv;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return;
	/* Twice per period, as sd_watchdog_enabled(3) recommends. */
	usec /= 2;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	watchdog = event_new(base, -1, EV_PERSIST, on_watchdog, NULL);
	if (!watchdog || event_add(watchdog, &tv) < 0)
		fatalx("cannot set up the watchdog timer");
	log_info("systemd watchdog: pinging every %llu ms", (unsigned long long)usec / 1000);
}

void tg_service_free(void)
{
	if (watchdog)
		event_free(watchdog);
	watchdog = NULL;
}

void tg_service_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void tg_service_status(const char *status)
{
	sd_notifyf(0, "STATUS=%s", status);
}

void tg_service_reloading(void)
{
	sd_notify(0, "RELOADING=1");
}

void tg_service_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}
