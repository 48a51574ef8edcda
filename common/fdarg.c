#include "fdarg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int tg_parse_uint(const char *text, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!text || *text < '0' || *text > '9')
		return -1;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int tg_parse_link_fds(const char *text, struct tg_link_fds *fds)
{
	int a, b, c, used = 0;

	if (!text || sscanf(text, "%d,%d,%d%n", &a, &b, &c, &used) != 3 || text[used] != '\0')
		return -1;
	if (a < 0 || b < 0 || c < 0)
		return -1;
	fds->memfd = a;
	fds->bell_self = b;
	fds->bell_peer = c;
	return 0;
}
