#include "exporter/poller.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "lib/common/logging.h"
#include "lib/common/rfc3339.h"
#include "spdlog/logger.h"

namespace hollowtrees::exporter {
namespace {

std::string FormatTimeOr(absl::Time t, const std::string& text) {
  if (t == absl::InfinitePast()) return absl::StrCat("\"", text, "\" (not a time)");
  return FormatRfc3339(t, Rfc3339Fraction::kNone);
}

}  // namespace

MetadataPoller::MetadataPoller(InstanceMetadata& metadata, ExporterMetrics& metrics,
                               spdlog::logger& logger, PollerOptions options)
    : metadata_(metadata), metrics_(metrics), logger_(logger), options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : RealClock()) {}

MetadataPoller::~MetadataPoller() { Stop(); }

void MetadataPoller::AddListener(Listener listener) { listeners_.push_back(std::move(listener)); }

InstanceState MetadataPoller::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

InstanceState MetadataPoller::PollOnce() {
  InstanceState before = state();
  InstanceState s = before;
  const absl::Time start = clock_.Now();
  s.last_attempt = start;

  auto poll = [&]() -> absl::Status {
    // Identity: read until known.
    struct Item {
      const char* path;
      std::string* value;
      bool required;
    };
    for (const Item& item : {Item{"instance-id", &s.instance_id, true},
                             Item{"instance-type", &s.instance_type, false},
                             Item{"placement/availability-zone", &s.availability_zone, false}}) {
      if (!item.value->empty()) continue;
      auto r = metadata_.Get(item.path);
      if (!r.ok()) return r.status();
      if (!r->has_value()) {
        if (item.required) {
          return absl::NotFoundError(absl::StrCat(item.path, " is not served (HTTP 404)"));
        }
        continue;
      }
      *item.value = std::string(absl::StripAsciiWhitespace(**r));
    }

    auto spot = metadata_.Get("spot/instance-action");
    if (!spot.ok()) return spot.status();
    auto rebalance = metadata_.Get("events/recommendations/rebalance");
    if (!rebalance.ok()) return rebalance.status();

    s.spot.reset();
    s.spot_malformed = false;
    if (spot->has_value()) {
      auto parsed = ParseSpotAction(**spot);
      if (parsed.ok()) {
        s.spot = *std::move(parsed);
      } else {
        s.spot_malformed = true;
        metrics_.malformed_spot_action().Inc();
        if (!before.spot_malformed) logger_.error("{}", parsed.status().message());
      }
    }
    s.rebalance.reset();
    s.rebalance_malformed = false;
    if (rebalance->has_value()) {
      auto parsed = ParseRebalance(**rebalance);
      if (parsed.ok()) {
        s.rebalance = *std::move(parsed);
      } else {
        s.rebalance_malformed = true;
        metrics_.malformed_rebalance().Inc();
        if (!before.rebalance_malformed) logger_.error("{}", parsed.status().message());
      }
    }
    return absl::OkStatus();
  };

  const absl::Status status = poll();
  const absl::Time end = clock_.Now();
  metrics_.poll_duration().Observe(absl::ToDoubleSeconds(end - start));
  if (status.ok()) {
    s.available = true;
    s.last_success = end;
    s.last_error.clear();
    metrics_.polls_succeeded().Inc();
  } else {
    s.available = false;
    s.last_error = std::string(status.message());
    metrics_.polls_failed().Inc();
  }
  s.imds_version = metadata_.version();
  metrics_.UpdateImdsStats(metadata_.stats());
  LogTransitions(before, s);
  {
    absl::MutexLock lock(&mu_);
    state_ = s;
  }
  for (const Listener& l : listeners_) l(s);
  return s;
}

void MetadataPoller::LogTransitions(const InstanceState& before, const InstanceState& after) {
  if (!after.available) {
    if (before.available || before.last_attempt == absl::InfinitePast()) {
      logger_.error("metadata service unavailable: {}", after.last_error);
    } else {
      logger_.debug("metadata service still unavailable: {}", after.last_error);
    }
  }
  if (after.available && !before.available) {
    logger_.info("metadata service available (IMDSv{}): instance_id={} instance_type={} "
                 "availability_zone={}",
                 after.imds_version, after.instance_id, after.instance_type,
                 after.availability_zone);
  }
  if (!after.available) return;
  if (after.spot && after.spot != before.spot) {
    logger_.warn("spot interruption notice: instance_id={} action={} time={}", after.instance_id,
                 after.spot->action, FormatTimeOr(after.spot->time, after.spot->time_text));
  } else if (!after.spot && before.spot) {
    logger_.info("spot interruption notice withdrawn: instance_id={}", after.instance_id);
  }
  if (after.rebalance && after.rebalance != before.rebalance) {
    logger_.warn("rebalance recommendation: instance_id={} noticeTime={}", after.instance_id,
                 FormatTimeOr(after.rebalance->notice_time, after.rebalance->notice_time_text));
  } else if (!after.rebalance && before.rebalance) {
    logger_.info("rebalance recommendation withdrawn: instance_id={}", after.instance_id);
  }
}

void MetadataPoller::Start() {
  thread_ = std::thread([this] { Run(); });
}

void MetadataPoller::Run() {
  absl::Time next = clock_.Now();
  while (true) {
    PollOnce();
    next += options_.interval;
    const absl::Time now = clock_.Now();
    if (next < now) next = now;  // fell behind (slow metadata): no burst of polls
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), next - now)) return;
  }
}

void MetadataPoller::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace hollowtrees::exporter
