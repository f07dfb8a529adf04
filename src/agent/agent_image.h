/* The agent as memtrace carries it: the flat image of agent.c and
 * arch/<machine>/agent_entry.S, linked at 0 by agent.ld and embedded at
 * build time (tools/embed_blob.py writes agent_blob.c).  The inject engine
 * maps it into the target. */
#ifndef MT_AGENT_IMAGE_H
#define MT_AGENT_IMAGE_H

#include <stddef.h>

extern const unsigned char mt_agent_image[];
extern const size_t mt_agent_image_len;

#endif
