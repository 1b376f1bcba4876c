#include "engine/intake/intake.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace hollowtrees::engine {

std::string IntakeResult::ToJson() const {
  nlohmann::json rejected_json = nlohmann::json::array();
  for (const Rejection& r : rejected) rejected_json.push_back({{"index", r.index}, {"error", r.error}});
  nlohmann::json out = {{"accepted", accepted}, {"duplicates", duplicates}, {"rejected", rejected_json}};
  if (dropped > 0) out["dropped"] = dropped;
  if (!unavailable.ok()) out["error"] = std::string(unavailable.message());
  return out.dump();
}

Intake::Intake(DedupTable& dedup, EventSink& sink, EventLog* log, EngineMetrics& metrics,
               const IntakeConfig& config)
    : dedup_(dedup), sink_(sink), log_(log), config_(config) {
  for (IntakeSource s : {IntakeSource::kPrometheus, IntakeSource::kAlertmanager,
                         IntakeSource::kCloudEvents, IntakeSource::kReplay, IntakeSource::kSqs}) {
    const std::string name(IntakeSourceName(s));
    source_metrics_[static_cast<int>(s)] = {&metrics.events_received.WithLabels({name}),
                                            &metrics.events_duplicate.WithLabels({name}),
                                            &metrics.events_rejected.WithLabels({name}),
                                            &metrics.events_dropped.WithLabels({name})};
  }
}

Intake::SourceMetrics& Intake::For(IntakeSource source) {
  return source_metrics_[static_cast<int>(source)];
}

void Intake::CountRejected(IntakeSource source, int n) { For(source).rejected->Inc(n); }

IntakeResult Intake::AcceptAlerts(AlertBatch batch, IntakeSource source, absl::Time now) {
  IntakeResult result;
  SourceMetrics& m = For(source);
  m.received->Inc(static_cast<double>(batch.alerts.size() + batch.rejected.size()));
  m.rejected->Inc(static_cast<double>(batch.rejected.size()));
  const std::string& fallback =
      batch.external_url.empty() ? config_.default_source : batch.external_url;
  std::vector<EventPtr> fresh;
  std::string key;
  for (ParsedAlert& alert : batch.alerts) {
    // The same key Event::DedupKey() gives, made without building the event.
    key.clear();
    absl::StrAppend(&key, alert.generator_url.empty() ? fallback : alert.generator_url, "\n",
                    alert.id);
    if (dedup_.SeenOrInsert(key, now)) {
      ++result.duplicates;
      continue;
    }
    fresh.push_back(AlertToEvent(std::move(alert), source, fallback, now));
  }
  m.duplicate->Inc(result.duplicates);
  result.rejected = std::move(batch.rejected);
  Take(std::move(fresh), source, &result);
  return result;
}

void Intake::Take(std::vector<EventPtr> fresh, IntakeSource source, IntakeResult* result) {
  if (fresh.empty()) return;
  // Backpressure: a bounded number of events may wait for the dispatcher.
  const size_t backlog = sink_.backlog();
  const size_t room = config_.queue_capacity > backlog ? config_.queue_capacity - backlog : 0;
  if (fresh.size() > room) {
    if (source != IntakeSource::kPrometheus) {
      // Alertmanager and CloudEvents senders retry a 5xx, SQS messages come
      // back: refuse it all.
      for (const EventPtr& e : fresh) dedup_.Forget(e->DedupKey());
      For(source).dropped->Inc(static_cast<double>(fresh.size()));
      result->unavailable = absl::UnavailableError(absl::StrCat(
          "queue full (", backlog, " events waiting, capacity ", config_.queue_capacity,
          "): retry later"));
      return;
    }
    // Prometheus never retries a batch: take what fits, count the rest.
    for (size_t i = room; i < fresh.size(); ++i) dedup_.Forget(fresh[i]->DedupKey());
    result->dropped = static_cast<int>(fresh.size() - room);
    For(source).dropped->Inc(result->dropped);
    fresh.resize(room);
    if (fresh.empty()) return;
  }
  std::vector<int64_t> seqs;
  if (log_ != nullptr) {
    if (absl::Status s = log_->AppendEvents(fresh, &seqs); !s.ok()) {
      for (const EventPtr& e : fresh) dedup_.Forget(e->DedupKey());
      result->unavailable = absl::UnavailableError(absl::StrCat("cannot journal the events: ", s.message()));
      return;
    }
  }
  result->accepted = static_cast<int>(fresh.size());
  sink_.Submit(std::move(fresh), std::move(seqs));
}

IntakeResult Intake::AcceptEvents(std::vector<EventPtr> events, std::vector<Rejection> rejected,
                                  absl::Time now, IntakeSource source) {
  IntakeResult result;
  SourceMetrics& m = For(source);
  m.received->Inc(static_cast<double>(events.size() + rejected.size()));
  m.rejected->Inc(static_cast<double>(rejected.size()));
  std::vector<EventPtr> fresh;
  for (EventPtr& e : events) {
    if (dedup_.SeenOrInsert(e->DedupKey(), now)) {
      ++result.duplicates;
      continue;
    }
    fresh.push_back(std::move(e));
  }
  m.duplicate->Inc(result.duplicates);
  result.rejected = std::move(rejected);
  Take(std::move(fresh), source, &result);
  return result;
}

}  // namespace hollowtrees::engine
