#!/usr/bin/env python3
"""histo on target_cxx: new/delete, new[]/delete[], std::vector with
reserve, std::string past the small-string buffer: all under libstdc++'s
operator new (reported as _Znwm or "operator new(unsigned long)"), plus
plain mallocs from a C++ function."""
import harness

harness.main(lambda h: h.scenario('target_cxx'))
