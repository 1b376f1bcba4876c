#pragma once

// The crash soak: the real engine binary, with a journal, in front of a chain
// of recording log plugins, under a steady stream of alerts, SIGKILLed at a
// random moment of every cycle and restarted; then one last start lets every
// flow finish, and the plugins' records are judged (tests/testing/engine_harness.h).

#include <cstdio>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hollowtrees::bench {

struct CrashSoakOptions {
  int cycles = 100;                  // kill-and-restart cycles
  double alerts_per_second = 50;     // new alerts offered while the engine runs
  int plugins = 2;                   // the rule's chain: p1 .. pN
  // p1 answers after this, so that many kills land in the middle of a call.
  absl::Duration first_plugin_delay = absl::Milliseconds(120);
  // Each cycle kills the engine uniformly between these times after it is up.
  absl::Duration min_uptime = absl::Milliseconds(80);
  absl::Duration max_uptime = absl::Milliseconds(700);
  // After the last cycle, how long the last start may take to finish every flow.
  absl::Duration drain_timeout = absl::Seconds(120);
  uint32_t seed = 20261121;
  std::string engine_binary;  // default: hollowtrees from HT_BIN_DIR
  bool keep_files = false;    // keep the temp dir (config, journal, records, logs)
};

struct CrashSoakReport {
  int cycles = 0;
  int alerts_posted = 0;        // new alerts sent (re-sends not counted)
  int alerts_acknowledged = 0;  // distinct alerts in a 200
  // Acknowledged, but the engine never completed a flow for them (no call to
  // the last plugin, or no succeeded flow in /api/v1/flows). Must be 0.
  int lost = 0;
  int calls = 0;
  int redelivered = 0;              // a flow step called more than once (allowed)
  int finished_steps_repeated = 0;  // a step the engine had finished, called again. Must be 0.
  int split_flows = 0;              // instances run under two flows or events. Must be 0.
  int out_of_order = 0;             // a step called before the previous one. Must be 0.
  int unexpected_exits = 0;         // cycles where the engine died before the kill. Must be 0.
  absl::Duration elapsed;
  std::string dir;

  bool ok() const {
    return lost == 0 && finished_steps_repeated == 0 && split_flows == 0 && out_of_order == 0 &&
           unexpected_exits == 0;
  }
};

// Runs the soak; progress lines go to `log`. An error when something could
// not start (a binary, a port) or the engine misbehaved in a way that stops
// the run (a 200 whose counts do not add up); the figures otherwise.
absl::StatusOr<CrashSoakReport> RunCrashSoak(const CrashSoakOptions& options, FILE* log);

// The figures, one per line, for people and for grep.
void PrintCrashSoakReport(const CrashSoakReport& report, FILE* out);

}  // namespace hollowtrees::bench
