/*
 * `tungate demo`: execs the demo script with the binaries of this tungate. A build tree has
 * tunio next to tungate and the source tree's scripts/demo.sh; an installed tungate finds its
 * children in the libexec directory and the script under DATADIR/tungate/demo. Nothing is
 * built or installed by the demo run this way (TG_DEMO_SKIP_BUILD=1).
 */
#include "demo.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TG_DEMO_SOURCE_SCRIPT
#define TG_DEMO_SOURCE_SCRIPT ""
#endif
#ifndef TG_DEMO_INSTALLED_SCRIPT
#define TG_DEMO_INSTALLED_SCRIPT ""
#endif
#ifndef TG_LIBEXEC_DIR
#define TG_LIBEXEC_DIR ""
#endif

static int self_dir(char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0)
		return -1;
	exe[n] = '\0';
	snprintf(buf, len, "%s", dirname(exe));
	return 0;
}

static int executable_in(const char *dir, const char *name)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, X_OK) == 0;
}

int tg_demo_exec(const char *libexec_dir)
{
	char bin[PATH_MAX], children[PATH_MAX];
	const char *script;

	if (self_dir(bin, sizeof(bin)) < 0) {
		perror("tungate: readlink /proc/self/exe");
		return 1;
	}
	if (libexec_dir)
		snprintf(children, sizeof(children), "%s", libexec_dir);
	else if (executable_in(bin, "tunio"))
		snprintf(children, sizeof(children), "%s", bin);
	else
		snprintf(children, sizeof(children), "%s", TG_LIBEXEC_DIR);
	/* A build tree (children beside us) runs the source tree's script, if it is still there. */
	script = TG_DEMO_INSTALLED_SCRIPT;
	if (executable_in(bin, "tunio") && access(TG_DEMO_SOURCE_SCRIPT, R_OK) == 0)
		script = TG_DEMO_SOURCE_SCRIPT;
	if (access(script, R_OK) != 0) {
		fprintf(stderr, "tungate: demo: %s not found (is the package complete?)\n",
		        script[0] ? script : "demo.sh");
		return 1;
	}
	if (setenv("TG_DEMO_SKIP_BUILD", "1", 1) < 0 || setenv("TG_BIN_DIR", bin, 1) < 0 ||
	    setenv("TG_LIBEXEC_DIR", children, 1) < 0) {
		perror("tungate: setenv");
		return 1;
	}
	fflush(stdout);
	execl("/bin/bash", "bash", script, (char *)NULL);
	perror("tungate: demo: /bin/bash");
	return 1;
}
