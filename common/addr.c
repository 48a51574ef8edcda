#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tg_addr_valid(const struct tg_addr *a)
{
	return a->family == TG_AF_INET4 || a->family == TG_AF_INET6;
}

int tg_addr_to_sockaddr(const struct tg_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == TG_AF_INET4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(a->port);
		memcpy(&sin->sin_addr, a->ip, 4);
		*len = sizeof(*sin);
		return 0;
	}
	if (a->family == TG_AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(a->port);
		memcpy(&sin6->sin6_addr, a->ip, 16);
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

int tg_addr_from_sockaddr(struct tg_addr *a, const struct sockaddr *sa)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		a->family = TG_AF_INET4;
		a->port = ntohs(sin->sin_port);
		memcpy(a->ip, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		a->family = TG_AF_INET6;
		a->port = ntohs(sin6->sin6_port);
		memcpy(a->ip, &sin6->sin6_addr, 16);
		return 0;
	}
	return -1;
}

const char *tg_addr_format(const struct tg_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (a->family == TG_AF_INET4 && inet_ntop(AF_INET, a->ip, ip, sizeof(ip)))
		snprintf(buf, len, "%s:%u", ip, a->port);
	else if (a->family == TG_AF_INET6 && inet_ntop(AF_INET6, a->ip, ip, sizeof(ip)))
		snprintf(buf, len, "[%s]:%u", ip, a->port);
	else
		snprintf(buf, len, "(bad address family %u)", a->family);
	return buf;
}

/* "A.B.C.D:PORT" or "[v6]:PORT", port 1..65535; no names: relayd cannot resolve them. */
int tg_addr_parse(const char *s, struct tg_addr *a)
{
	char ip[INET6_ADDRSTRLEN];
	const char *host = s, *colon;
	size_t hostlen;
	char *end;
	unsigned long port;

	memset(a, 0, sizeof(*a));
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -1;
		host = s + 1;
		hostlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		if (!(colon = strrchr(s, ':')))
			return -1;
		hostlen = (size_t)(colon - s);
	}
	if (hostlen == 0 || hostlen >= sizeof(ip) || colon[1] < '0' || colon[1] > '9')
		return -1;
	memcpy(ip, host, hostlen);
	ip[hostlen] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || port == 0 || port > 65535 || end - (colon + 1) > 5)
		return -1;
	if (*s == '[' && inet_pton(AF_INET6, ip, a->ip) == 1)
		a->family = TG_AF_INET6;
	else if (*s != '[' && inet_pton(AF_INET, ip, a->ip) == 1)
		a->family = TG_AF_INET4;
	else
		return -1;
	a->port = (uint16_t)port;
	return 0;
}
