#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "spdlog/logger.h"

// fmt formatters for Abseil's own string_view (Debian's Abseil does not alias
// std::string_view) and for absl::Status, so both can be logged directly.
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename Ctx>
  auto format(absl::string_view s, Ctx& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(s.data(), s.size()), ctx);
  }
};
template <>
struct fmt::formatter<absl::Status> : fmt::formatter<fmt::string_view> {
  template <typename Ctx>
  auto format(const absl::Status& s, Ctx& ctx) const {
    const std::string text = s.ToString();
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(text), ctx);
  }
};

namespace hollowtrees {

struct LogOptions {
  // trace, debug, info, warn, error, critical, off. Default: info.
  std::string level = "info";
  // "text" (human-readable, the default) or "json" (one object per line with
  // time, level, logger and msg; the message is JSON-escaped).
  std::string format = "text";
};

// Validates options without building anything (for configuration checks).
absl::Status ValidateLogOptions(const LogOptions& options);

// Makes a named logger writing to stderr. Each component makes one and passes
// it in; nothing here registers global loggers. Thread-safe logger.
absl::StatusOr<std::shared_ptr<spdlog::logger>> MakeLogger(const std::string& name,
                                                           const LogOptions& options);

// Changes level and format of an existing logger made by MakeLogger.
absl::Status ApplyLogOptions(spdlog::logger& logger, const LogOptions& options);

}  // namespace hollowtrees
