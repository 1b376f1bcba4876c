#include "lib/common/logging.h"

#include "absl/strings/str_cat.h"
#include "lib/common/json_escape.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace hollowtrees {
namespace {

// %j: the message, escaped for a JSON string (spdlog's %v is not).
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string escaped;
    AppendJsonEscaped(escaped, absl::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

absl::StatusOr<spdlog::level::level_enum> ParseLevel(const std::string& level) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  // from_str answers "off" for anything it does not know.
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log level \"", level,
                     "\" (one of trace, debug, info, warn, error, critical, off)"));
  }
  return parsed;
}

}  // namespace

absl::Status ValidateLogOptions(const LogOptions& options) {
  auto level = ParseLevel(options.level);
  if (!level.ok()) return level.status();
  if (options.format != "text" && options.format != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log format \"", options.format, "\" (one of text, json)"));
  }
  return absl::OkStatus();
}

absl::Status ApplyLogOptions(spdlog::logger& logger, const LogOptions& options) {
  if (absl::Status s = ValidateLogOptions(options); !s.ok()) return s;
  logger.set_level(*ParseLevel(options.level));
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (options.format == "json") {
    formatter->add_flag<JsonMessageFlag>('j').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n","msg":"%j"})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ [%n] %v");
  }
  logger.set_formatter(std::move(formatter));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<spdlog::logger>> MakeLogger(const std::string& name,
                                                           const LogOptions& options) {
  auto logger = std::make_shared<spdlog::logger>(
      name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (absl::Status s = ApplyLogOptions(*logger, options); !s.ok()) return s;
  logger->flush_on(spdlog::level::trace);
  return logger;
}

}  // namespace hollowtrees
