#!/usr/bin/env python3
"""histo on target_cxx: new/delete, new[]/delete[], std::vector with
reserve, std::string past the small-string buffer: each attributed to the
user's function that made it (demangled), not to operator new or the
standard library's layers, plus plain mallocs from a C++ function."""
import harness

harness.main(lambda h: h.scenario('target_cxx'))
