// ht-crash-soak: SIGKILLs the real engine at a random moment of every cycle
// while alerts keep coming, restarts it, and checks that nothing acknowledged
// was lost and no finished step ran again (bench/soak/README.md). Exits 0
// when the figures are clean, 1 when not, 2 when it could not run.

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/soak/crash_soak.h"
#include "lib/common/flags.h"

ABSL_FLAG(int, cycles, 100, "kill-and-restart cycles");
ABSL_FLAG(double, alerts_per_second, 50, "new alerts posted per second while the engine runs");
ABSL_FLAG(int, plugins, 2, "recording log plugins in the rule's chain");
ABSL_FLAG(absl::Duration, first_plugin_delay, absl::Milliseconds(120),
          "the first plugin answers after this (kills land in the middle of calls)");
ABSL_FLAG(absl::Duration, min_uptime, absl::Milliseconds(80), "kill no sooner after the start");
ABSL_FLAG(absl::Duration, max_uptime, absl::Milliseconds(700), "kill no later after the start");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(120),
          "after the last cycle, how long every flow may take to finish");
ABSL_FLAG(uint32_t, seed, 20261121, "random seed (kill moments, re-sends)");
ABSL_FLAG(std::string, engine, "", "the hollowtrees binary (default: next to this program)");
ABSL_FLAG(bool, keep_files, false, "keep the temp dir (config, journal, records, logs)");

int main(int argc, char** argv) {
  hollowtrees::InitFlags("ht-crash-soak",
                         "ht-crash-soak: SIGKILLs and restarts the engine under load; "
                         "checks nothing acknowledged is lost");
  hollowtrees::AcceptDashedFlags(argc, argv);
  absl::ParseCommandLine(argc, argv);
  // The engine and the plugins are found through HT_BIN_DIR (as in the
  // tests); by default, beside this program.
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  setenv("HT_BIN_DIR", self.c_str(), /*overwrite=*/0);

  hollowtrees::bench::CrashSoakOptions options;
  options.cycles = absl::GetFlag(FLAGS_cycles);
  options.alerts_per_second = absl::GetFlag(FLAGS_alerts_per_second);
  options.plugins = absl::GetFlag(FLAGS_plugins);
  options.first_plugin_delay = absl::GetFlag(FLAGS_first_plugin_delay);
  options.min_uptime = absl::GetFlag(FLAGS_min_uptime);
  options.max_uptime = absl::GetFlag(FLAGS_max_uptime);
  options.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.engine_binary = absl::GetFlag(FLAGS_engine);
  options.keep_files = absl::GetFlag(FLAGS_keep_files);
  auto report = hollowtrees::bench::RunCrashSoak(options, stderr);
  if (!report.ok()) {
    std::fprintf(stderr, "ht-crash-soak: %s\n", std::string(report.status().message()).c_str());
    return 2;
  }
  hollowtrees::bench::PrintCrashSoakReport(*report, stdout);
  return report->ok() ? 0 : 1;
}
