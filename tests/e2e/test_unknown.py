#!/usr/bin/env python3
"""histo on target_unknown: blocks allocated before attach and freed (or
reallocated) after it are unknown_frees, and their allocating function
never appears as a site."""
import harness

harness.main(lambda h: h.scenario('target_unknown'))
