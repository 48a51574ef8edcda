/*
 * The service manager's side of tungate: systemd's notify protocol (readiness, status,
 * reloading, stopping) and its watchdog. Without NOTIFY_SOCKET every call is a no-op, so
 * tungate runs the same stand-alone.
 */
#ifndef TG_SERVICE_H
#define TG_SERVICE_H

struct event_base;

/* Starts the watchdog pings if systemd asked for them (WatchdogSec=). */
void tg_service_init(struct event_base *base);
void tg_service_free(void);
void tg_service_ready(const char *status);
void tg_service_status(const char *status);
void tg_service_reloading(void);
void tg_service_stopping(void);

#endif
