/* How report rows are grouped (--group-by): one enum for the command line,
 * the session, the report and diff. */
#ifndef MT_REPORT_GROUP_H
#define MT_REPORT_GROUP_H

enum mt_report_group {
	MT_REPORT_BY_SITE,      /* the site frame: same address and function */
	MT_REPORT_BY_STACK,     /* the whole stack: rows stay as they are */
	MT_REPORT_BY_FUNCTION,  /* the site frame's function (module+offset if unnamed) */
	MT_REPORT_BY_MODULE,    /* the site frame's module */
};

/* "site", "stack", "function", "module" (--group-by's words); "?" else. */
const char *mt_report_group_name(enum mt_report_group g);

#endif
