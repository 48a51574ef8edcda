/* Children receive their link fds on the command line as "MEMFD,BELL_SELF,BELL_PEER". */
#ifndef TG_FDARG_H
#define TG_FDARG_H

struct tg_link_fds {
	int memfd;
	int bell_self;
	int bell_peer;
};

/* Returns 0, or -1 if the text is not three non-negative fd numbers. */
int tg_parse_link_fds(const char *text, struct tg_link_fds *fds);
/* Parses a whole number in [min, max]; returns 0 or -1. */
int tg_parse_uint(const char *text, unsigned long min, unsigned long max, unsigned long *out);

#endif
