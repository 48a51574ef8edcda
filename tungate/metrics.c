/*
 * The Prometheus endpoint (metrics.h). Text exposition format 0.0.4: a # HELP and a # TYPE
 * line per metric family, names tungate_*. Everything is read at scrape time; the counters
 * file is written by the children, so its names are filtered (safe_name) and its counts
 * bounded like `tungate stats` does.
 */
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "addr.h"
#include "link.h"
#include "log.h"
#include "stats.h"

#define METRICS_MAX_HEADERS 8192 /* bytes of request line and headers */
#define METRICS_MAX_BODY    1024 /* a GET has none; anything else gets 405 anyway */

struct tg_metrics {
	struct evhttp *http;
	struct tg_metrics_src src;
	uint64_t restarts[TG_NCHILD];
	uint64_t scrapes;
};

/* Counter names from the file: letters, digits and '_' only, as label values need no more. */
static void safe_name(char *dst, const char *src, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len && src[i]; i++) {
		char c = src[i];

		dst[i] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '_')
		                 ? c
		                 : '_';
	}
	dst[i] = '\0';
}

static void family(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int read_counters(int fd, struct tg_stats_file *f)
{
	if (fd < 0 || pread(fd, f, sizeof(*f), 0) != (ssize_t)sizeof(*f))
		return -1;
	if (f->magic != TG_STATS_MAGIC || f->version != TG_STATS_VERSION)
		return -1;
	return 0;
}

/* The value of counter name in process proc's region; 0 when absent. */
static uint64_t counter(const struct tg_stats_file *f, enum tg_stats_proc proc, const char *name)
{
	const struct tg_stats_region *r = &f->region[proc];
	uint32_t n = r->count > TG_STATS_ENTRIES ? TG_STATS_ENTRIES : r->count;

	for (uint32_t i = 0; i < n; i++)
		if (strncmp(r->entry[i].name, name, TG_STATS_NAME_LEN) == 0)
			return r->entry[i].value;
	return 0;
}

static void put_children(struct tg_metrics *m, struct evbuffer *b)
{
	const struct tg_child *k = m->src.kids->child;

	family(b, "tungate_child_up", "gauge", "1 while the child process runs");
	for (int i = 0; i < TG_NCHILD; i++)
		evbuffer_add_printf(b, "tungate_child_up{process=\"%s\"} %d\n", k[i].name,
		                    k[i].pid > 0);
	family(b, "tungate_child_restarts_total", "counter",
	       "times the child died and was started again");
	for (int i = 0; i < TG_NCHILD; i++)
		evbuffer_add_printf(b, "tungate_child_restarts_total{process=\"%s\"} %llu\n",
		                    k[i].name, (unsigned long long)m->restarts[i]);
}

static void put_flows(const struct tg_stats_file *f, struct evbuffer *b)
{
	family(b, "tungate_flows_open", "gauge", "flows open now, by protocol (stackd)");
	evbuffer_add_printf(b, "tungate_flows_open{proto=\"tcp\"} %llu\n",
	                    (unsigned long long)counter(f, TG_STATS_STACKD, "flows_open"));
	evbuffer_add_printf(b, "tungate_flows_open{proto=\"udp\"} %llu\n",
	                    (unsigned long long)counter(f, TG_STATS_STACKD, "udp_flows_open"));
	family(b, "tungate_flows_total", "counter",
	       "flows opened since stackd started, by protocol (icmp: echo requests relayed)");
	evbuffer_add_printf(b, "tungate_flows_total{proto=\"tcp\"} %llu\n",
	                    (unsigned long long)counter(f, TG_STATS_STACKD, "flows_total"));
	evbuffer_add_printf(b, "tungate_flows_total{proto=\"udp\"} %llu\n",
	                    (unsigned long long)counter(f, TG_STATS_STACKD, "udp_flows_total"));
	evbuffer_add_printf(b, "tungate_flows_total{proto=\"icmp\"} %llu\n",
	                    (unsigned long long)counter(f, TG_STATS_STACKD, "icmp_echo_relayed"));
}

/* Every drop_* counter of every process, the reason being the rest of its name. */
static void put_drops(const struct tg_stats_file *f, struct evbuffer *b)
{
	char name[TG_STATS_NAME_LEN + 1];

	family(b, "tungate_drops_total", "counter", "packets or messages dropped, by reason");
	for (int p = 0; p < TG_STATS_NPROC; p++) {
		const struct tg_stats_region *r = &f->region[p];
		uint32_t n = r->count > TG_STATS_ENTRIES ? TG_STATS_ENTRIES : r->count;

		for (uint32_t i = 0; r->pid && i < n; i++) {
			if (strncmp(r->entry[i].name, "drop_", 5) != 0)
				continue;
			/* The name field holds TG_STATS_NAME_LEN bytes from the child, maybe no
			 * NUL. */
			safe_name(name, r->entry[i].name + 5, TG_STATS_NAME_LEN - 5 + 1);
			evbuffer_add_printf(
			        b, "tungate_drops_total{process=\"%s\",reason=\"%s\"} %llu\n",
			        tg_stats_proc_name(p), name, (unsigned long long)r->entry[i].value);
		}
	}
}

/* Every counter as published, for what the families above do not single out. */
static void put_counters(const struct tg_stats_file *f, struct evbuffer *b)
{
	char name[TG_STATS_NAME_LEN + 1];

	family(b, "tungate_counter", "untyped",
	       "each process's own counters as `tungate stats` shows them");
	for (int p = 0; p < TG_STATS_NPROC; p++) {
		const struct tg_stats_region *r = &f->region[p];
		uint32_t n = r->count > TG_STATS_ENTRIES ? TG_STATS_ENTRIES : r->count;

		for (uint32_t i = 0; r->pid && i < n; i++) {
			safe_name(name, r->entry[i].name, sizeof(name));
			evbuffer_add_printf(b, "tungate_counter{process=\"%s\",name=\"%s\"} %llu\n",
			                    tg_stats_proc_name(p), name,
			                    (unsigned long long)r->entry[i].value);
		}
	}
}

/* Exposition format: each family's samples together, after its HELP and TYPE lines. */
static void put_rings(struct tg_metrics *m, struct evbuffer *b)
{
	static const struct ring_desc {
		const char *link, *from[2];
	} desc[2] = {{"a", {"tunio", "stackd"}}, {"b", {"stackd", "relayd"}}};
	const struct tg_shm_link *links[2] = {m->src.link_a, m->src.link_b};
	uint32_t used[2][2], capacity[2];
	bool ok[2];

	for (int i = 0; i < 2; i++)
		ok[i] = tg_link_usage(links[i]->memfd, used[i], &capacity[i]) == 0;
	family(b, "tungate_ring_used", "gauge", "descriptors waiting in a link's data ring");
	for (int i = 0; i < 2; i++)
		for (int side = 0; ok[i] && side < 2; side++)
			evbuffer_add_printf(b, "tungate_ring_used{link=\"%s\",from=\"%s\"} %u\n",
			                    desc[i].link, desc[i].from[side], used[i][side]);
	family(b, "tungate_ring_capacity", "gauge", "descriptors a link's data ring holds");
	for (int i = 0; i < 2; i++)
		if (ok[i])
			evbuffer_add_printf(b, "tungate_ring_capacity{link=\"%s\"} %u\n",
			                    desc[i].link, capacity[i]);
}

static void serve_metrics(struct tg_metrics *m, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	struct tg_stats_file *f = calloc(1, sizeof(*f));
	bool have = f && read_counters(m->src.stats_fd, f) == 0;

	if (!b) {
		free(f);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	m->scrapes++;
	family(b, "tungate_scrapes_total", "counter", "scrapes of this endpoint");
	evbuffer_add_printf(b, "tungate_scrapes_total %llu\n", (unsigned long long)m->scrapes);
	put_children(m, b);
	put_rings(m, b);
	if (have) {
		put_flows(f, b);
		put_drops(f, b);
		put_counters(f, b);
	}
	free(f);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (!path || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "only /metrics is served here");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, HTTP_BADMETHOD, NULL);
		return;
	}
	serve_metrics(arg, req);
}

/*
 * The listening socket, made here rather than by evhttp_bind_socket(): that one resolves the
 * address with getaddrinfo(AI_ADDRCONFIG) and reports its failures vaguely; this says the
 * errno of the bind itself.
 */
static int listen_socket(const char *where, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct tg_addr a;
	int fd, on = 1;

	if (tg_addr_parse(where, &a) < 0 || tg_addr_to_sockaddr(&a, &ss, &sslen) < 0) {
		snprintf(err, errlen, "[metrics] listen: \"%s\" is not an address", where);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 16) < 0) {
		snprintf(err, errlen, "[metrics] listen %s: cannot bind: %s", where,
		         strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

struct tg_metrics *tg_metrics_start(struct event_base *base, const char *listen,
                                    const struct tg_metrics_src *src, char *err, size_t errlen)
{
	struct tg_metrics *m;
	int fd = listen_socket(listen, err, errlen);

	if (fd < 0)
		return NULL;
	if (!(m = calloc(1, sizeof(*m))) || !(m->http = evhttp_new(base)) ||
	    evhttp_accept_socket(m->http, fd) < 0) {
		if (m && m->http)
			evhttp_free(m->http);
		free(m);
		close(fd);
		snprintf(err, errlen, "[metrics] listen %s: cannot set up the HTTP server", listen);
		return NULL;
	}
	m->src = *src;
	evhttp_set_gencb(m->http, on_request, m);
	evhttp_set_timeout(m->http, 10);
	/*
	 * The supervisor is root: a scraper needs a few hundred bytes of request, and libevent's
	 * defaults (no limit) would let any peer of the endpoint grow it without bound.
	 */
	evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
	evhttp_set_max_body_size(m->http, METRICS_MAX_BODY);
	log_info("metrics on http://%s/metrics", listen);
	return m;
}

void tg_metrics_child_died(struct tg_metrics *m, enum tg_child_id id)
{
	if (m && id < TG_NCHILD)
		m->restarts[id]++;
}

void tg_metrics_free(struct tg_metrics *m)
{
	if (!m)
		return;
	evhttp_free(m->http);
	free(m);
}
