#pragma once

// Broken invariants abort (docs/architecture.md, "Crash versus handle"). The
// packaged Abseil (20220623) predates absl/log, so there is no CHECK.

#include <cstdio>
#include <cstdlib>

#define HT_CHECK(cond, msg)                                                          \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: check failed: %s: %s\n", __FILE__, __LINE__, #cond, \
                   (msg));                                                           \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)
