#!/usr/bin/env python3
"""histo on target_basic: one thread, a few functions allocating known
blocks (kept, churned, freed elsewhere, calloc, malloc(0), two sites in one
function, free(NULL)); every expectation exact, unknown_frees 0.  With no
realloc in it, each event is one allocation or one free, so events are
exactly their sum (free(NULL) is neither, with either engine)."""
import harness


def events_are_calls(h, report, result):
    totals = report['totals']
    calls = totals['allocs'] + totals['frees']
    h.check(report['events'] == calls,
            f'report counts {report["events"]} events for {totals["allocs"]} allocations '
            f'and {totals["frees"]} frees ({calls})')


harness.main(lambda h: h.scenario('target_basic',
                                  report_check=lambda r, res: events_are_calls(h, r, res)))
