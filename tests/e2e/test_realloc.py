#!/usr/bin/env python3
"""histo on target_realloc: calloc, realloc grow/shrink/move/same size,
realloc(NULL, n), realloc(p, 0), a failed realloc, a chain of reallocs and
reallocarray, each from its own function.  The free half of a realloc is
credited to the site that allocated the old block."""
import harness

harness.main(lambda h: h.scenario('target_realloc'))
