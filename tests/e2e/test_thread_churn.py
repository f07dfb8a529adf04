#!/usr/bin/env python3
"""histo on target_thread_churn: 200 short-lived threads in batches of 4,
each allocating known blocks, some kept, some reallocated by a later thread,
some freed by the main thread; exact totals per site."""
import harness


def check(h, report, result):
    h.check(report['threads'] >= 5,
            f'report says at most {report["threads"]} threads at once; '
            f'batches of 4 threads plus the main one were alive together')


harness.main(lambda h: h.scenario('target_thread_churn',
                                  report_check=lambda r, res: check(h, r, res)))
