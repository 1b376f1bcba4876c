#include "plugins/log/log_plugin.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace hollowtrees::plugin {

LogPlugin::LogPlugin(LogPluginOptions options, spdlog::logger& logger)
    : options_(std::move(options)), logger_(logger) {
  if (!options_.record_file.empty()) {
    record_ = fopen(options_.record_file.c_str(), "a");
    if (record_ == nullptr) {
      logger_.error("cannot open record file {}; calls are only logged", options_.record_file);
    }
  }
}

LogPlugin::~LogPlugin() {
  absl::MutexLock lock(&mu_);
  if (record_ != nullptr) fclose(record_);
}

Result LogPlugin::Handle(const Request& request, const Context& context) {
  const int64_t received_us = absl::ToUnixMicros(absl::Now());
  logger_.info("event={} type={} rule={} flow={} attempt={} status={} labels={}", request.event_id,
               request.event_type, request.rule, request.flow_id, request.attempt, request.status,
               nlohmann::json(request.labels).dump());
  {
    absl::MutexLock lock(&mu_);
    if (record_ != nullptr) {
      nlohmann::json line = {{"received_at_us", received_us}, {"event_id", request.event_id},
                             {"type", request.event_type},    {"source", request.event_source},
                             {"rule", request.rule},          {"flow_id", request.flow_id},
                             {"attempt", request.attempt},    {"labels", request.labels},
                             {"params", request.params},      {"status", request.status}};
      const std::string text = line.dump() + "\n";
      fwrite(text.data(), 1, text.size(), record_);
      fflush(record_);
    }
  }
  if (options_.delay > absl::ZeroDuration()) {
    const absl::Time until = absl::Now() + options_.delay;
    while (absl::Now() < until && !context.cancelled()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (static_cast<int>(request.attempt) <= options_.retry_attempts) {
    return Result::Retry(absl::StrCat("asked to retry attempt ", request.attempt));
  }
  if (options_.outcome == "skipped") return Result::Skipped("logged; told to skip");
  if (options_.outcome == "retry") return Result::Retry("logged; told to retry");
  if (options_.outcome == "failed") return Result::Failed("logged; told to fail");
  return Result::Done("logged");
}

}  // namespace hollowtrees::plugin
