#!/usr/bin/env python3
"""histo on target_basic: one thread, a few functions allocating known
blocks (kept, churned, freed elsewhere, calloc, malloc(0), two sites in one
function, free(NULL)); every expectation exact, unknown_frees 0."""
import harness

harness.main(lambda h: h.scenario('target_basic'))
