/*
 * tungate, the supervisor: reads the configuration, creates the TUN device and the two links,
 * starts tunio, stackd and relayd (children.c) and watches them from a libevent loop that
 * dispatches three things: SIGCHLD (a child died: report it, and for now stop everything),
 * SIGINT/SIGTERM (stop the children, then exit 0), and the deadline of a stop in progress.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "children.h"
#include "config.h"
#include "config_print.h"
#include "ctl.h"
#include "demo.h"
#include "links.h"
#include "log.h"
#include "metrics.h"
#include "privsep.h"
#include "route.h"
#include "service.h"
#include "spawn.h"
#include "stats.h"
#include "tun.h"
#include "tun_offload.h"

#define STOP_GRACE_SEC 5 /* after SIGTERM, before SIGKILL */
#define KILL_GRACE_SEC 2 /* after SIGKILL, before giving up on a child */
#define MAX_OVERRIDES  32

enum {
	OPT_TEST_FORBIDDEN = 256,
	OPT_JSON,
	OPT_LIBEXEC_DIR,
	OPT_VERSION,
	OPT_PRINT_CONFIG,
	OPT_SET,
	OPT_KEY_BASE = 1024, /* + index into the configuration keys: a flag that sets a key */
};

/*
 * A flag that sets a configuration key: applied after the file, through the same setter.
 * Either a key's own flag (key), or --set SECTION.KEY=VALUE (section and name), which also
 * reaches the keys of named sections such as [upstream NAME].
 */
struct override {
	const struct tg_config_key *key;
	char section[72];
	char name[40];
	const char *value;
};

struct cli {
	const char *config_path;
	const char *libexec_dir;
	bool check;
	bool check_command; /* `tungate check FILE`: -n that insists on a file */
	bool stats;         /* `tungate stats`: print the running gateway's counters */
	bool demo;          /* `tungate demo`: run the demo script (demo.c) */
	bool json;
	bool print_config;
	const char *test_forbidden; /* hidden, tests only: CHILD:CALL (docs/security.md) */
	struct override overrides[MAX_OVERRIDES];
	size_t noverrides;
};

struct tungate {
	struct tg_config cfg;
	char ifname[IFNAMSIZ];
	int tun_fd;             /* kept open: the device outlives a tunio restart */
	struct tg_route *route; /* auto-route's routes and rules; NULL: none */
	struct tg_shm_link link_a;
	struct tg_shm_link link_b;
	struct tg_children kids;
	struct event_base *base;
	struct event *ev_chld;
	struct event *ev_int;
	struct event *ev_term;
	struct event *ev_deadline;
	struct event *ev_restart[TG_NCHILD];
	struct restart_arg {
		struct tungate *tg;
		enum tg_child_id id;
	} restart_arg[TG_NCHILD];
	struct tg_child_env env;
	const struct cli *cli;
	struct event *ev_hup;
	struct tg_metrics *metrics; /* [metrics] listen; NULL: off */
	bool announced_ready;
	bool stopping;
	bool killed; /* SIGKILL was sent: the next deadline gives up */
	int exit_code;
};

static const char synopsis[] =
        "usage: tungate [run] [-c FILE] [--KEY VALUE ...] [--libexec-dir DIR] [--print-config]\n"
        "       tungate check [-c] FILE [--KEY VALUE ...]     (also: tungate -n -c FILE)\n"
        "       tungate stats [--json] [-c FILE] [--netns NAME] [--tun-name NAME]\n"
        "       tungate demo\n"
        "       tungate --help | --version\n";

static const char exit_codes[] =
        "\nExit status: 0 success (run: stopped by SIGTERM/SIGINT); 1 runtime failure (a device,\n"
        "namespace or child that cannot be set up or kept running; stats: no running gateway);\n"
        "2 usage or configuration error (check prints FILE:LINE: reason).\n";

__attribute__((noreturn)) static void usage(void)
{
	fputs(synopsis, stderr);
	exit(2);
}

/* The key flags' help comes from the key table, so that a new key cannot go undocumented. */
__attribute__((noreturn)) static void help(void)
{
	printf("%s\n"
	       "Commands: run (the default) runs the gateway in the foreground; check validates a\n"
	       "configuration; stats prints a running gateway's counters; demo runs the\n"
	       "three-namespace demo (root).\n\n"
	       "  -c, --config FILE          INI file; flags win over it\n"
	       "  -n, --check                check the configuration, print \"config OK\" and "
	       "exit\n"
	       "      --print-config         print the effective configuration (INI, passwords\n"
	       "                             hidden) and exit\n"
	       "      --json                 with `stats`: print JSON instead of a table\n"
	       "      --libexec-dir DIR      where tunio, stackd and relayd are (default: next to\n"
	       "                             tungate)\n"
	       "      --set SECTION.KEY=VALUE  any key, also of named sections:\n"
	       "                             --set 'upstream proxyA.server=192.0.2.1:1080'\n"
	       "\nConfiguration keys (tungate.conf(5)); each flag sets [SECTION] KEY:\n",
	       synopsis);
	for (size_t i = 0; i < tg_config_nkeys(); i++) {
		const struct tg_config_key *k = tg_config_key_at(i);
		char flag[64];

		snprintf(flag, sizeof(flag), "--%s %s", k->flag, k->metavar);
		printf("      %-30s [%s] %s\n%37s%s\n", flag, k->section, k->name, "", k->help);
	}
	fputs(exit_codes, stdout);
	exit(0);
}

/* getopt's table: the fixed options, then one per configuration key. */
static struct option *long_options(void)
{
	static const struct option fixed[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"check", no_argument, NULL, 'n'},
	        {"test-forbidden", required_argument, NULL, OPT_TEST_FORBIDDEN},
	        {"json", no_argument, NULL, OPT_JSON},
	        {"libexec-dir", required_argument, NULL, OPT_LIBEXEC_DIR},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, OPT_VERSION},
	        {"print-config", no_argument, NULL, OPT_PRINT_CONFIG},
	        {"set", required_argument, NULL, OPT_SET},
	};
	size_t nfixed = sizeof(fixed) / sizeof(fixed[0]), nkeys = tg_config_nkeys();
	struct option *opts = calloc(nfixed + nkeys + 1, sizeof(*opts));

	if (!opts)
		fatal("calloc");
	memcpy(opts, fixed, sizeof(fixed));
	for (size_t i = 0; i < nkeys; i++)
		opts[nfixed + i] = (struct option){tg_config_key_at(i)->flag, required_argument,
		                                   NULL, OPT_KEY_BASE + (int)i};
	return opts;
}

/* --set SECTION.KEY=VALUE: the section is what precedes the last dot before the '='. */
static void override_set_split(struct override *o, const char *arg)
{
	const char *eq = strchr(arg, '='), *dot;

	for (dot = eq ? eq : arg; dot > arg && *dot != '.'; dot--)
		;
	if (!eq || dot == arg || dot + 1 == eq || (size_t)(dot - arg) >= sizeof(o->section) ||
	    (size_t)(eq - dot - 1) >= sizeof(o->name)) {
		fprintf(stderr, "tungate: --set %s: want SECTION.KEY=VALUE\n", arg);
		exit(2);
	}
	snprintf(o->section, sizeof(o->section), "%.*s", (int)(dot - arg), arg);
	snprintf(o->name, sizeof(o->name), "%.*s", (int)(eq - dot - 1), dot + 1);
	o->value = eq + 1;
}

static void override_add(struct cli *cli, const struct tg_config_key *key, const char *arg)
{
	struct override *o;

	if (cli->noverrides == MAX_OVERRIDES) {
		fprintf(stderr, "tungate: too many flags\n");
		exit(2);
	}
	o = &cli->overrides[cli->noverrides++];
	memset(o, 0, sizeof(*o));
	if (!key) {
		override_set_split(o, arg);
		return;
	}
	o->key = key;
	snprintf(o->section, sizeof(o->section), "%s", key->section);
	snprintf(o->name, sizeof(o->name), "%s", key->name);
	o->value = arg;
}

static void cli_parse(int argc, char **argv, struct cli *cli)
{
	struct option *longopts = long_options();
	const struct tg_config_key *key;
	int ch;

	/*
	 * A subcommand first: `run` (the default), `check` (-n), `stats` (the same flags locate
	 * the gateway whose counters to show) or `demo`.
	 */
	if (argc > 1 && argv[1][0] != '-') {
		if (strcmp(argv[1], "stats") == 0)
			cli->stats = true;
		else if (strcmp(argv[1], "check") == 0)
			cli->check = cli->check_command = true;
		else if (strcmp(argv[1], "demo") == 0)
			cli->demo = true;
		else if (strcmp(argv[1], "run") != 0) {
			fprintf(stderr, "tungate: unknown command \"%s\"\n", argv[1]);
			usage();
		}
		argv[1] = argv[0];
		argc--;
		argv++;
	}
	while ((ch = getopt_long(argc, argv, "c:nh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cli->config_path = optarg;
			break;
		case 'n':
			cli->check = true;
			break;
		case OPT_LIBEXEC_DIR:
			cli->libexec_dir = optarg;
			break;
		case OPT_JSON:
			cli->json = true;
			break;
		case OPT_PRINT_CONFIG:
			cli->print_config = true;
			break;
		case OPT_TEST_FORBIDDEN:
			cli->test_forbidden = optarg;
			break;
		case 'h':
			help();
		case OPT_VERSION:
			printf("tungate %s\n", TG_VERSION);
			exit(0);
		case OPT_SET:
			override_add(cli, NULL, optarg);
			break;
		default:
			if (ch < OPT_KEY_BASE ||
			    !(key = tg_config_key_at((size_t)(ch - OPT_KEY_BASE))))
				usage(); /* getopt has named the bad flag */
			override_add(cli, key, optarg);
		}
	}
	free(longopts);
	/* `tungate check FILE`: the file may come without -c, as nginx -t and sshd -t take it. */
	if (cli->check && !cli->config_path && optind == argc - 1)
		cli->config_path = argv[optind++];
	if (cli->check_command && !cli->config_path) {
		fprintf(stderr, "tungate: check: which configuration file?\n");
		usage();
	}
	if (optind != argc) {
		fprintf(stderr, "tungate: unexpected argument \"%s\"\n", argv[optind]);
		usage();
	}
}

/* Defaults, then the file, then the flags. Returns 0, or -1 with the reason in err. */
static int config_try(struct tg_config *cfg, const struct cli *cli, char *err, size_t errlen)
{
	char why[512];

	tg_config_defaults(cfg);
	if (cli->config_path && tg_config_load_file(cfg, cli->config_path, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < cli->noverrides; i++) {
		const struct override *o = &cli->overrides[i];

		if (tg_config_set(cfg, o->section, o->name, o->value, why, sizeof(why)) < 0) {
			if (o->key)
				snprintf(err, errlen, "--%s: %s", o->key->flag, why);
			else
				snprintf(err, errlen, "--set %s.%s: %s", o->section, o->name, why);
			return -1;
		}
	}
	if (tg_config_check(cfg, err, errlen) < 0)
		return -1;
	if (cli->test_forbidden &&
	    tg_privsep_set_test(cfg, cli->test_forbidden, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "--test-forbidden: %s", why);
		return -1;
	}
	/* Users are looked up here: a missing one is a configuration error like any other. */
	if (!cli->stats && !cli->print_config && tg_privsep_resolve(cfg, err, errlen) < 0)
		return -1;
	return 0;
}

/* At start any error is fatal: a message and exit 2. */
static void config_build(struct tg_config *cfg, const struct cli *cli)
{
	char err[600];

	if (config_try(cfg, cli, err, sizeof(err)) < 0) {
		fprintf(stderr, "tungate: %s\n", err);
		exit(2);
	}
}

/* Children live next to our own executable unless --libexec-dir says otherwise. */
static void libexec_default(char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0)
		fatal("readlink /proc/self/exe");
	exe[n] = '\0';
	snprintf(buf, len, "%s", dirname(exe));
}

/* ---- supervision ------------------------------------------------------------------------ */

static void schedule_restart(struct tungate *tg, struct tg_child *k);

static void deadline_arm(struct tungate *tg, int sec)
{
	struct timeval tv = {sec, 0};

	evtimer_add(tg->ev_deadline, &tv);
}

/* Stops every child (SIGTERM, then SIGKILL at the deadline); the loop ends when all are gone. */
static void stop(struct tungate *tg, int exit_code)
{
	if (tg->stopping)
		return;
	tg->stopping = true;
	tg->exit_code = exit_code;
	tg_service_stopping();
	if (tg_children_signal(&tg->kids, SIGTERM) == 0) {
		event_base_loopbreak(tg->base);
		return;
	}
	deadline_arm(tg, STOP_GRACE_SEC);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct tungate *tg = arg;

	for (int i = 0; i < TG_NCHILD; i++) {
		struct tg_child *k = &tg->kids.child[i];

		if (k->pid > 0)
			log_warnx("%s (pid %d) still running %d s after %s", k->name, (int)k->pid,
			          tg->killed ? KILL_GRACE_SEC : STOP_GRACE_SEC,
			          tg->killed ? "SIGKILL: giving up on it" : "SIGTERM: killing it");
	}
	if (tg->killed) {
		event_base_loopbreak(tg->base);
		return;
	}
	tg->killed = true;
	tg_children_signal(&tg->kids, SIGKILL);
	deadline_arm(tg, KILL_GRACE_SEC);
}

/* Restart policy: see docs/architecture.md, "Crash domains". */
#define RESTART_DELAY_MS    100  /* after a child that had been running a while */
#define RESTART_MAX_MS      5000 /* backoff cap for a child that keeps dying soon */
#define QUICK_DEATH_MS      1500 /* dying sooner than this after start backs off */
#define FAILED_STARTS_LIMIT 5    /* deaths before READY, in a row: give up, exit 1 */

static long ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/*
 * The dead child's links get new segments; the survivors are handed theirs at once, so they
 * drop the old epoch's state (slots, descriptors, flows) now, not when the child is back.
 */
static void renew_links(struct tungate *tg, enum tg_child_id dead)
{
	struct tg_child *k = tg->kids.child;

	if (dead == TG_CHILD_TUNIO || dead == TG_CHILD_STACKD) {
		tg_links_renew(&tg->link_a);
		if (dead == TG_CHILD_TUNIO)
			tg_children_send_link(&k[TG_CHILD_STACKD], TG_CTL_LINK_A, &tg->link_a, 1);
		else
			tg_children_send_link(&k[TG_CHILD_TUNIO], TG_CTL_LINK_A, &tg->link_a, 0);
	}
	if (dead == TG_CHILD_RELAYD || dead == TG_CHILD_STACKD) {
		tg_links_renew(&tg->link_b);
		if (dead == TG_CHILD_RELAYD)
			tg_children_send_link(&k[TG_CHILD_STACKD], TG_CTL_LINK_B, &tg->link_b, 0);
		else
			tg_children_send_link(&k[TG_CHILD_RELAYD], TG_CTL_LINK_B, &tg->link_b, 1);
	}
}

static void on_restart(evutil_socket_t fd, short what, void *arg)
{
	struct restart_arg *ra = arg;
	struct tungate *tg = ra->tg;
	enum tg_child_id id = ra->id;
	struct tg_child *k = &tg->kids.child[id];

	if (tg->stopping)
		return;
	if (tg_children_start_one(&tg->kids, id, &tg->env) < 0) {
		k->restarts++;
		if (++k->failed_starts >= FAILED_STARTS_LIMIT) {
			log_warnx("%s could not be started %u times: giving up", k->name,
			          k->failed_starts);
			stop(tg, 1);
			return;
		}
		schedule_restart(tg, k);
		return;
	}
	log_info("%s restarted, pid %d (restart %u in a row)", k->name, (int)k->pid, k->restarts);
}

static void schedule_restart(struct tungate *tg, struct tg_child *k)
{
	long delay = RESTART_DELAY_MS;
	struct timeval tv;

	for (unsigned i = 1; i < k->restarts && delay < RESTART_MAX_MS; i++)
		delay *= 2;
	if (delay > RESTART_MAX_MS)
		delay = RESTART_MAX_MS;
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(tg->ev_restart[k - tg->kids.child], &tv);
}

static void child_gone(struct tungate *tg, struct tg_child *k, int status)
{
	enum tg_child_id id = (enum tg_child_id)(k - tg->kids.child);
	char how[96];

	tg_wait_status_text(status, how, sizeof(how));
	if (tg->stopping) {
		log_info("%s (pid %d) %s", k->name, (int)k->pid, how);
		tg_children_reaped(k);
		return;
	}
	log_warnx("%s (pid %d) %s", k->name, (int)k->pid, how);
	tg_children_reaped(k);
	/*
	 * A child that died before saying READY cannot start (bad binary, bad config, a
	 * sandbox it cannot live in): retrying forever would only hide that. One that was
	 * serving crashed: it comes back, at once unless it keeps dying soon after starting.
	 */
	k->failed_starts = k->ready ? 0 : k->failed_starts + 1;
	if (k->failed_starts >= FAILED_STARTS_LIMIT) {
		log_warnx("%s died %u times before it was ready: giving up", k->name,
		          k->failed_starts);
		stop(tg, 1);
		return;
	}
	k->restarts = ms_since(&k->last_start) < QUICK_DEATH_MS ? k->restarts + 1 : 0;
	tg_metrics_child_died(tg->metrics, id);
	renew_links(tg, id);
	schedule_restart(tg, k);
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct tungate *tg = arg;
	struct tg_child *k;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((k = tg_children_find(&tg->kids, pid)))
			child_gone(tg, k, status);
	}
	if (tg->stopping && tg_children_running(&tg->kids) == 0)
		event_base_loopbreak(tg->base);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct tungate *tg = arg;

	if (tg->stopping)
		return;
	log_info("%s: stopping the children", sig == SIGINT ? "SIGINT" : "SIGTERM");
	stop(tg, 0);
}

/* Settings a running gateway takes over without dropping a flow. */
static void copy_live_settings(struct tg_config *to, const struct tg_config *from)
{
	to->log_level = from->log_level;
	to->tcp_idle_timeout = from->tcp_idle_timeout;
	to->tcp_half_close_timeout = from->tcp_half_close_timeout;
	to->udp_timeout = from->udp_timeout;
	to->dns_timeout = from->dns_timeout;
	to->connect_timeout = from->connect_timeout;
}

/*
 * SIGHUP: read the configuration again. The log level and the timeouts change at once, in
 * tungate and in every child; anything else (the device, the users, limits) needs a restart,
 * which is said, and the running values stay. A configuration with errors changes nothing.
 */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct tungate *tg = arg;
	struct tg_config fresh, rest;
	char err[600];

	tg_service_reloading();
	if (config_try(&fresh, tg->cli, err, sizeof(err)) < 0) {
		log_warnx("SIGHUP: %s: configuration not reloaded", err);
		tg_service_ready("reload failed: running on the previous configuration");
		return;
	}
	rest = fresh;
	copy_live_settings(&rest, &tg->cfg);
	if (memcmp(&rest, &tg->cfg, sizeof(rest)) != 0)
		log_warnx("SIGHUP: keys other than log.level and the timeouts changed: they take "
		          "effect at the next restart of tungate");
	copy_live_settings(&tg->cfg, &fresh);
	log_setlevel(tg->cfg.log_level);
	tg_children_send_config(&tg->kids, &tg->cfg);
	log_info("SIGHUP: log level and timeouts reloaded");
	tg_service_ready("running; configuration reloaded");
}

/* Ready for systemd once all three children are; again after each restart, as status. */
static void on_child_ready(struct tg_child *k, void *arg)
{
	struct tungate *tg = arg;
	char status[128];

	for (int i = 0; i < TG_NCHILD; i++)
		if (!tg->kids.child[i].ready)
			return;
	snprintf(status, sizeof(status), "relaying on %s", tg->ifname);
	if (!tg->announced_ready) {
		tg->announced_ready = true;
		tg_service_ready(status);
	} else {
		tg_service_status(status);
	}
}

static void events_setup(struct tungate *tg)
{
	tg->base = event_base_new();
	if (!tg->base)
		fatalx("event_base_new failed");
	tg->ev_chld = evsignal_new(tg->base, SIGCHLD, on_sigchld, tg);
	tg->ev_int = evsignal_new(tg->base, SIGINT, on_stop_signal, tg);
	tg->ev_term = evsignal_new(tg->base, SIGTERM, on_stop_signal, tg);
	tg->ev_deadline = evtimer_new(tg->base, on_deadline, tg);
	tg->ev_hup = evsignal_new(tg->base, SIGHUP, on_hup, tg);
	if (!tg->ev_hup || evsignal_add(tg->ev_hup, NULL) < 0)
		fatalx("cannot set up the event loop");
	for (int i = 0; i < TG_NCHILD; i++) {
		tg->restart_arg[i] = (struct restart_arg){tg, (enum tg_child_id)i};
		tg->ev_restart[i] = evtimer_new(tg->base, on_restart, &tg->restart_arg[i]);
		if (!tg->ev_restart[i])
			fatalx("cannot set up the event loop");
	}
	if (!tg->ev_chld || !tg->ev_int || !tg->ev_term || !tg->ev_deadline ||
	    evsignal_add(tg->ev_chld, NULL) < 0 || evsignal_add(tg->ev_int, NULL) < 0 ||
	    evsignal_add(tg->ev_term, NULL) < 0)
		fatalx("cannot set up the event loop");
}

static void events_free(struct tungate *tg)
{
	event_free(tg->ev_chld);
	event_free(tg->ev_int);
	event_free(tg->ev_term);
	event_free(tg->ev_deadline);
	event_free(tg->ev_hup);
	for (int i = 0; i < TG_NCHILD; i++)
		event_free(tg->ev_restart[i]);
	event_base_free(tg->base);
}

static void log_running(const struct tungate *tg)
{
	char addr[64], where[NAME_MAX + 64] = "";
	const struct tg_child *k = tg->kids.child;

	if (tg->cfg.netns[0])
		snprintf(where, sizeof(where), " in netns %s", tg->cfg.netns);
	tg_config_address_text(&tg->cfg, addr, sizeof(addr));
	log_info("running on %s%s (%smtu %u%s%s), tunio pid %d, stackd pid %d, relayd pid %d",
	         tg->ifname, where, tg->cfg.tap ? "TAP, " : "", tg->cfg.mtu,
	         addr[0] ? ", address " : "", addr, (int)k[TG_CHILD_TUNIO].pid,
	         (int)k[TG_CHILD_STACKD].pid, (int)k[TG_CHILD_RELAYD].pid);
}

static int print_stats(const struct tg_config *cfg, bool json)
{
	char path[PATH_MAX];

	tg_config_stats_path(cfg, path, sizeof(path));
	if (tg_stats_print(path, stdout, json) < 0) {
		fprintf(stderr, "tungate: %s: %s (is the gateway running?)\n", path,
		        strerror(errno));
		return 1;
	}
	return 0;
}

/* The counters file lives as long as this tungate; its directory is created on demand. */
static int stats_open(const struct tg_config *cfg, char *path, size_t len)
{
	char dir[PATH_MAX];
	int fd;

	tg_config_stats_path(cfg, path, len);
	snprintf(dir, sizeof(dir), "%s", path);
	if (mkdir(dirname(dir), 0755) < 0 && errno != EEXIST)
		log_warn("mkdir for %s", path);
	fd = tg_stats_create(path);
	if (fd < 0)
		log_warn("%s: counters are not published", path);
	return fd;
}

/*
 * A metrics address that cannot be bound is a runtime failure: no child starts, and what was
 * set up (routes, the device) is taken down as at any stop; exit 1.
 */
static void metrics_start(struct tungate *tg, int stats_fd)
{
	struct tg_metrics_src src = {stats_fd, &tg->link_a, &tg->link_b, &tg->kids};
	char err[300];

	tg->metrics = tg_metrics_start(tg->base, tg->cfg.metrics_listen, &src, err, sizeof(err));
	if (!tg->metrics) {
		log_warnx("%s", err);
		stop(tg, 1);
	}
}

/* libevent's own warnings (evhttp's included) in our format and to our target. */
static void on_libevent_log(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_WARN)
		log_warnx("libevent: %s", msg);
	else
		log_debug("libevent: %s", msg);
}

int main(int argc, char **argv)
{
	static struct tungate tg;
	struct cli cli = {0};
	char libexec[PATH_MAX], stats_path[PATH_MAX];
	int stats_fd;

	log_init("tungate", TG_LOG_INFO);
	event_set_log_callback(on_libevent_log);
	cli_parse(argc, argv, &cli);
	if (cli.demo)
		return tg_demo_exec(cli.libexec_dir);
	config_build(&tg.cfg, &cli);
	if (cli.check) {
		printf("config OK\n");
		return 0;
	}
	if (cli.print_config) {
		tg_config_print(&tg.cfg, stdout);
		return 0;
	}
	if (cli.stats)
		return print_stats(&tg.cfg, cli.json);
	log_setlevel(tg.cfg.log_level);
	if (tg.cfg.log_syslog)
		log_open_syslog();
	if (cli.libexec_dir)
		snprintf(libexec, sizeof(libexec), "%s", cli.libexec_dir);
	else
		libexec_default(libexec, sizeof(libexec));
	tg_children_init(&tg.kids, libexec);
	/* A child that dies mid-write must not take the supervisor with it. */
	signal(SIGPIPE, SIG_IGN);

	tg.tun_fd = tg_tun_open(&tg.cfg, tg.ifname);
	tg.route = tg_route_setup(&tg.cfg, tg.ifname); /* before the privileges go */
	tg_links_create(&tg.link_a, &tg.link_b, tg.cfg.mtu, tg_tun_has_vnet_hdr(tg.tun_fd));
	tg.cli = &cli;
	events_setup(&tg);
	tg.kids.base = tg.base;
	tg.kids.on_ready = on_child_ready;
	tg.kids.ready_arg = &tg;
	tg_service_init(tg.base);

	stats_fd = stats_open(&tg.cfg, stats_path, sizeof(stats_path));
	if (tg.cfg.metrics_listen[0])
		metrics_start(&tg, stats_fd); /* before the privileges go: any port may be bound */
	/* Everything that needed privilege exists now: keep only what (re)starting needs. */
	tg_privsep_enter(&tg.cfg);
	tg.env = (struct tg_child_env){
	        &tg.cfg,  tg.tun_fd, &tg.link_a, &tg.link_b,
	        stats_fd, -1,        -1}; /* the rules' memfds: set just below */
	tg_children_make_rules(&tg.env, &tg.cfg);
	if (tg.stopping)
		; /* set-up failed (metrics): nothing to start */
	else if (tg_children_start(&tg.kids, &tg.env) < 0)
		stop(&tg, 1);
	else
		log_running(&tg);
	if (!tg.stopping || tg_children_running(&tg.kids) > 0)
		event_base_dispatch(tg.base);

	for (int i = 0; i < TG_NCHILD; i++)
		tg_children_reaped(&tg.kids.child[i]); /* all are gone: frees their events */
	tg_service_free();
	tg_metrics_free(tg.metrics);
	events_free(&tg);
	tg_route_teardown(tg.route); /* the children are gone: nothing relays any more */
	tg_links_close(&tg.link_a);
	tg_links_close(&tg.link_b);
	close(tg.tun_fd);
	if (stats_fd >= 0) {
		close(stats_fd);
		unlink(stats_path);
	}
	log_debug("exiting with status %d", tg.exit_code);
	return tg.exit_code;
}
