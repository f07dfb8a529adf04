#!/usr/bin/env python3
"""histo on target_memalign: posix_memalign (64 and 16 bytes, and EINVAL),
aligned_alloc, memalign, valloc and pvalloc, each from its own function;
sizes are the requested ones."""
import harness

harness.main(lambda h: h.scenario('target_memalign'))
