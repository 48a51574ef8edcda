#include "proto.h"

static const char *const msg_names[TG_MSG_MAX] = {
        [TG_MSG_NONE] = "none",
        [TG_MSG_HELLO] = "HELLO",
        [TG_MSG_PACKET] = "PACKET",
        [TG_MSG_TCP_OPEN] = "TCP_OPEN",
        [TG_MSG_OPEN_RESULT] = "OPEN_RESULT",
        [TG_MSG_DATA] = "DATA",
        [TG_MSG_CREDIT] = "CREDIT",
        [TG_MSG_SHUT_WR] = "SHUT_WR",
        [TG_MSG_RESET] = "RESET",
        [TG_MSG_CLOSED] = "CLOSED",
        [TG_MSG_UDP] = "UDP",
        [TG_MSG_ICMP_ECHO] = "ICMP_ECHO",
        [TG_MSG_UDP_ERROR] = "UDP_ERROR",
        [TG_MSG_UDP_BATCH] = "UDP_BATCH",
};

static const char *const result_names[TG_OPEN_RESULT_MAX] = {
        [TG_OPEN_OK] = "ok",
        [TG_OPEN_REFUSED] = "refused",
        [TG_OPEN_UNREACHABLE] = "unreachable",
        [TG_OPEN_TIMEOUT] = "timeout",
        [TG_OPEN_REJECTED] = "rejected",
};

const char *tg_msg_name(unsigned type)
{
	if (type < TG_MSG_MAX && msg_names[type])
		return msg_names[type];
	return "unknown";
}

const char *tg_open_result_name(unsigned result)
{
	if (result < TG_OPEN_RESULT_MAX)
		return result_names[result];
	return "unknown";
}
