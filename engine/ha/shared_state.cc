#include "engine/ha/shared_state.h"

#include <algorithm>
#include <random>

#include <zlib.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "lib/common/json_int.h"
#include "lib/common/json_escape.h"
#include "lib/common/logging.h"
#include "lib/common/rfc3339.h"
#include "lib/common/check.h"
#include "lib/common/status_macros.h"
#include "lib/kube/kube_error.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace hollowtrees::engine {
namespace {

using nlohmann::json;

// The state is gzipped JSON in binaryData (about a seventh of its size: the
// flows repeat their rule, labels and annotations); `data` carries who wrote
// it and a summary, readable with kubectl.
constexpr char kStateKey[] = "state.json.gz";
constexpr int kFormatVersion = 1;
constexpr char kPartLabel[] = "hollowtrees.io/part";
constexpr char kLeaseLabel[] = "hollowtrees.io/lease";

// The inbox data key of an event: its dedup key hashed (a ConfigMap key is
// [-._a-zA-Z0-9]+).
std::string KeyOf(const Event& event) {
  return FingerprintHex(Fnv1a(kFnvOffset, event.DedupKey()));
}

bool IsDnsSubdomainPart(absl::string_view s) {
  return !s.empty() && absl::ascii_isalnum(s.front()) && absl::ascii_isalnum(s.back()) &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '.';
         });
}

std::string NewToken() {
  std::random_device rd;
  const uint64_t hi = (uint64_t{rd()} << 32) | rd();
  const uint64_t lo = (uint64_t{rd()} << 32) | rd();
  return absl::StrCat(FingerprintHex(hi), FingerprintHex(lo));
}

bool IsConflict(const absl::Status& s) {
  return s.code() == absl::StatusCode::kAborted || s.code() == absl::StatusCode::kAlreadyExists;
}

// gzip (RFC 1952) of `text`.
std::string Gzip(const std::string& text) {
  z_stream z{};
  HT_CHECK(deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK,
           "deflateInit2");
  std::string out(deflateBound(&z, text.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  HT_CHECK(rc == Z_STREAM_END, "deflate with a bound-sized buffer");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// The text of gzip `data`, at most `max` bytes of it; InvalidArgument when
// it is not gzip or larger.
absl::StatusOr<std::string> Gunzip(absl::string_view data, size_t max = 64u << 20) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return absl::InternalError("inflateInit2");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[64 * 1024];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - z.avail_out);
    if (out.size() > max) rc = Z_MEM_ERROR;
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return absl::InvalidArgumentError("state.json.gz is not complete gzip");
  return out;
}

// The state's JSON text in a state ConfigMap: "" when it has none.
absl::StatusOr<std::string> StateText(const json& cm) {
  const json bin = cm.value("binaryData", json::object());
  if (!bin.is_object() || !bin.contains(kStateKey)) return std::string();
  if (!bin[kStateKey].is_string()) return absl::InvalidArgumentError("state.json.gz is not a string");
  std::string raw;
  if (!absl::Base64Unescape(bin[kStateKey].get_ref<const std::string&>(), &raw)) {
    return absl::InvalidArgumentError("state.json.gz is not base64");
  }
  return Gunzip(raw);
}

// Puts the state into the ConfigMap `cm`: gzipped in binaryData, and who
// wrote it (the fence's token) in data, readable. Returns the size stored.
size_t SetState(json& cm, const std::string& text, const std::string& leader,
                const std::string& token, size_t flows, absl::Time now) {
  std::string encoded = absl::Base64Escape(Gzip(text));
  const size_t bytes = encoded.size();
  cm["data"] = json{{"leader", leader},
                    {"token", token},
                    {"running_flows", absl::StrCat(flows)},
                    {"written", FormatRfc3339(now)},
                    {"format", "binaryData state.json.gz: gzipped JSON, version 1"}};
  cm["binaryData"] = json{{kStateKey, std::move(encoded)}};
  return bytes;
}

}  // namespace

std::string StateConfigMapName(const std::string& lease_name) {
  return absl::StrCat(lease_name, "-state");
}

std::string InboxConfigMapName(const std::string& lease_name, const std::string& identity) {
  std::string name = absl::StrCat(lease_name, "-inbox-", identity);
  // An identity that cannot be part of an object name is hashed.
  if (!IsDnsSubdomainPart(identity) || name.size() > 253) {
    name = absl::StrCat(lease_name, "-inbox-", FingerprintHex(Fnv1a(kFnvOffset, identity)));
  }
  return name;
}

SharedState::SharedState(kube::KubeClient& client, SharedStateOptions options,
                         spdlog::logger& logger)
    : client_(client), options_(std::move(options)), logger_(logger),
      state_name_(StateConfigMapName(options_.lease_name)),
      inbox_name_(InboxConfigMapName(options_.lease_name, options_.identity)),
      finished_(options_.keep_finished) {
  writer_ = std::thread([this] { WriterLoop(); });
}

SharedState::~SharedState() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    leading_ = false;
  }
  wake_.SignalAll();
  writer_.join();
}

std::string SharedState::Path(const std::string& name) const {
  return kube::ResourcePath("", "v1", "configmaps", options_.ns, name);
}

json SharedState::NewConfigMap(const std::string& name, const std::string& part) const {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata",
           {{"name", name},
            {"namespace", options_.ns},
            {"labels",
             {{"app.kubernetes.io/name", "hollowtrees"},
              {kPartLabel, part},
              {kLeaseLabel, options_.lease_name}}}}},
          {"data", json::object()}};
}

// --- The inbox ---

absl::Status SharedState::AppendEvents(const std::vector<EventPtr>& events,
                                       std::vector<int64_t>* seqs) {
  json data = json::object();
  std::vector<std::string> keys;
  keys.reserve(events.size());
  for (const EventPtr& e : events) {
    keys.push_back(KeyOf(*e));
    data[keys.back()] = EventToJson(*e);
  }
  json patch = {{"data", data}};
  bool exists;
  {
    absl::MutexLock lock(&mu_);
    exists = inbox_exists_;
  }
  absl::Status st;
  for (int round = 0; round < 3; ++round) {
    if (exists) {
      st = client_.Patch(Path(inbox_name_), patch, kube::PatchType::kMerge).status();
      if (st.code() != absl::StatusCode::kNotFound) break;
      exists = false;  // deleted under us: create it again
    } else {
      json cm = NewConfigMap(inbox_name_, "inbox");
      cm["data"] = data;
      st = client_.Create(kube::ResourcePath("", "v1", "configmaps", options_.ns), cm).status();
      if (st.code() != absl::StatusCode::kAlreadyExists) break;
      exists = true;  // another start of this replica made it: patch it
    }
  }
  if (!st.ok()) {
    return absl::UnavailableError(absl::StrCat("the inbox ConfigMap ", options_.ns, "/",
                                               inbox_name_, " could not be written: ",
                                               st.message()));
  }
  absl::MutexLock lock(&mu_);
  inbox_exists_ = true;
  if (seqs != nullptr) seqs->clear();
  for (size_t i = 0; i < events.size(); ++i) {
    const int64_t seq = next_seq_++;
    refs_[seq] = Ref{keys[i], events[i]};
    if (seqs != nullptr) seqs->push_back(seq);
  }
  return absl::OkStatus();
}

std::vector<EventPtr> SharedState::Claim(const std::vector<EventPtr>& events,
                                         const std::vector<int64_t>& seqs,
                                         std::vector<int64_t>* claimed_seqs) {
  std::vector<EventPtr> out;
  claimed_seqs->clear();
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < events.size() && i < seqs.size(); ++i) {
    auto ref = refs_.find(seqs[i]);
    if (ref == refs_.end()) continue;
    if (!leading_) {  // stays in the inbox for the leader
      refs_.erase(ref);
      continue;
    }
    const std::string key = ref->second.key;
    holders_[key].insert(inbox_name_);
    if (seen_.contains(key) || !claimed_.emplace(key, seqs[i]).second) {
      refs_.erase(ref);  // dispatched, or claimed under another seq
      continue;
    }
    out.push_back(events[i]);
    claimed_seqs->push_back(seqs[i]);
  }
  return out;
}

void SharedState::Forget(const std::vector<int64_t>& seqs) {
  absl::MutexLock lock(&mu_);
  for (int64_t seq : seqs) refs_.erase(seq);
}

absl::Status SharedState::PollInboxes(std::vector<EventPtr>* events, std::vector<int64_t>* seqs) {
  HT_ASSIGN_OR_RETURN(
      json list,
      client_.List(kube::ResourcePath("", "v1", "configmaps", options_.ns),
                   {.label_selector = absl::StrCat(kPartLabel, "=inbox,", kLeaseLabel, "=",
                                                   options_.lease_name)}));
  absl::flat_hash_map<std::string, std::set<std::string>> remove;  // inbox -> keys
  {
    absl::MutexLock lock(&mu_);
    if (!leading_) return absl::FailedPreconditionError("not leading");
    for (const json& cm : list.value("items", json::array())) {
      if (!cm.is_object() || !cm.contains("metadata") || !cm["metadata"].is_object()) continue;
      const std::string name = cm["metadata"].value("name", "");
      const json data = cm.value("data", json::object());
      if (!data.is_object()) continue;
      for (const auto& [key, value] : data.items()) {
        if (seen_.contains(key)) {
          remove[name].insert(key);
          continue;
        }
        holders_[key].insert(name);
        if (claimed_.contains(key)) continue;
        absl::StatusOr<EventPtr> event =
            value.is_string() ? EventFromJson(value.get_ref<const std::string&>())
                              : absl::InvalidArgumentError("not a string");
        if (!event.ok()) {
          logger_.error("inbox {}/{}: entry {} is not an event ({}); removing it", options_.ns,
                        name, key, event.status().message());
          remove[name].insert(key);
          continue;
        }
        const int64_t seq = next_seq_++;
        refs_[seq] = Ref{key, *event};
        claimed_[key] = seq;
        events->push_back(*event);
        seqs->push_back(seq);
      }
    }
  }
  if (!remove.empty()) RemoveFromInboxes(remove);
  return absl::OkStatus();
}

void SharedState::RemoveFromInboxes(
    const absl::flat_hash_map<std::string, std::set<std::string>>& by_inbox) {
  for (const auto& [name, keys] : by_inbox) {
    json data = json::object();
    for (const std::string& k : keys) data[k] = nullptr;
    absl::Status st = client_.Patch(Path(name), {{"data", data}}, kube::PatchType::kMerge).status();
    if (!st.ok() && st.code() != absl::StatusCode::kNotFound) {
      // Harmless: the next poll finds them dispatched and tries again.
      logger_.warn("inbox {}/{}: removing {} dispatched events failed: {}", options_.ns, name,
                   keys.size(), st.message());
    }
  }
}

// --- The term ---

absl::StatusOr<Recovery> SharedState::BeginTerm(
    std::function<void(const std::string& why)> on_fenced) {
  const std::string token = NewToken();
  const std::string path = Path(state_name_);
  // Read the state, then write it back as ours: with the version read as
  // the precondition, a leader still writing makes us read again.
  for (int round = 0;; ++round) {
    absl::StatusOr<json> cm = client_.Get(path);
    if (cm.status().code() == absl::StatusCode::kNotFound) {
      cm = NewConfigMap(state_name_, "state");
    } else if (!cm.ok()) {
      return cm.status();
    }
    Recovery recovery;
    absl::MutexLock lock(&mu_);
    flows_.clear();
    refs_.clear();
    event_json_.clear();
    cooldowns_.clear();
    seen_.clear();
    claimed_.clear();
    holders_.clear();
    to_remove_.clear();
    if (absl::Status s = LoadLocked(*cm, &recovery); !s.ok()) {
      // Never act on a state we cannot read: a newer format, or damage.
      return absl::FailedPreconditionError(absl::StrCat("the shared state ", options_.ns, "/",
                                                        state_name_, " cannot be read: ",
                                                        s.message()));
    }
    token_ = token;
    const absl::Time now = absl::Now();
    json body = *cm;
    SetState(body, SerializeLocked(now), options_.identity, token_, flows_.size(), now);
    const bool create = !body["metadata"].contains("resourceVersion");
    mu_.Unlock();
    absl::StatusOr<json> written =
        create ? client_.Create(kube::ResourcePath("", "v1", "configmaps", options_.ns), body)
               : client_.Request("PUT", path,
                                 body.dump(-1, ' ', false, json::error_handler_t::replace),
                                 "application/json");
    mu_.Lock();
    if (!written.ok()) {
      if (IsConflict(written.status()) && round < 10) continue;  // another wrote: read again
      return written.status();
    }
    if (written->is_object()) {
      resource_version_ = written->value("metadata", json::object()).value("resourceVersion", "");
    }
    leading_ = true;
    on_fenced_ = std::move(on_fenced);
    written_ = changes_;
    on_durable_.clear();
    stats_.writes++;
    // The inboxes: events not yet dispatched, claimed for this term.
    mu_.Unlock();
    std::vector<EventPtr> events;
    std::vector<int64_t> seqs;
    absl::Status polled = PollInboxes(&events, &seqs);
    mu_.Lock();
    if (!polled.ok()) {
      leading_ = false;
      return polled;
    }
    recovery.undispatched = std::move(events);
    recovery.undispatched_seqs = std::move(seqs);
    logger_.info("shared state {}/{}: this replica leads ({} flows to resume, {} cooldowns, {} "
                 "events dispatched recently, {} inbox events to dispatch)",
                 options_.ns, state_name_, recovery.unfinished.size(), recovery.cooldowns.size(),
                 seen_.size(), recovery.undispatched.size());
    return recovery;
  }
}

void SharedState::EndTerm() {
  absl::MutexLock lock(&mu_);
  leading_ = false;
  on_durable_.clear();
  on_fenced_ = nullptr;
  refs_.clear();
  written_cv_.SignalAll();
  mu_.Await(absl::Condition(
      +[](bool* writing) { return !*writing; }, &writing_));
  finished_.ForgetUnfinished();
}

absl::Status SharedState::Flush(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  const uint64_t target = changes_;
  while (leading_ && (written_ < target || writing_)) {
    if (written_cv_.WaitWithDeadline(&mu_, deadline)) {
      return absl::DeadlineExceededError("the shared state was not written in time");
    }
  }
  if (written_ < target) return absl::AbortedError("the term ended before the state was written");
  return absl::OkStatus();
}

bool SharedState::leading() const {
  absl::MutexLock lock(&mu_);
  return leading_;
}

SharedStateStats SharedState::stats() const {
  absl::MutexLock lock(&mu_);
  SharedStateStats s = stats_;
  s.running_flows = flows_.size();
  s.seen_keys = seen_.size();
  s.inbox_events = holders_.size();
  return s;
}

// --- The FlowStore ---

void SharedState::Put(const FlowRecord& record, std::function<void()> on_durable) {
  finished_.Put(record);
  absl::MutexLock lock(&mu_);
  if (!leading_) return;  // not ours to record: `on_durable` never runs
  if (IsFinal(record.state)) {
    flows_.erase(record.id);
    event_json_.erase(record.id);
  } else {
    if (!event_json_.contains(record.id)) event_json_[record.id] = EventToJson(*record.event);
    flows_[record.id] = record;
  }
  ++changes_;
  if (on_durable) on_durable_.push_back(std::move(on_durable));
  wake_.Signal();
}

void SharedState::EventsDispatched(const std::vector<int64_t>& seqs) {
  if (seqs.empty()) return;
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&mu_);
  if (!leading_) return;
  for (int64_t seq : seqs) {
    auto ref = refs_.find(seq);
    if (ref == refs_.end()) continue;
    seen_[ref->second.key] = now;
    to_remove_.push_back(ref->second.key);
    refs_.erase(ref);
  }
  ++changes_;
  wake_.Signal();
}

void SharedState::GroupCooldown(const std::string& group, absl::Time until) {
  absl::MutexLock lock(&mu_);
  if (!leading_) return;
  cooldowns_[group] = until;
  ++changes_;
  wake_.Signal();
}

std::vector<FlowRecord> SharedState::List(const FlowFilter& filter) { return finished_.List(filter); }

std::optional<FlowRecord> SharedState::Get(const std::string& id) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = flows_.find(id); it != flows_.end()) return it->second;
  }
  return finished_.Get(id);
}

// --- The state's form ---

std::string SharedState::SerializeLocked(absl::Time now) {
  // Forget what no longer matters: expired cooldowns, old keys.
  absl::erase_if(cooldowns_, [now](const auto& kv) { return kv.second <= now; });
  absl::erase_if(seen_, [&](const auto& kv) { return kv.second < now - options_.seen_window; });
  if (seen_.size() > options_.max_seen) {
    std::vector<std::pair<absl::Time, std::string>> by_age;
    for (const auto& [k, t] : seen_) by_age.emplace_back(t, k);
    std::sort(by_age.begin(), by_age.end());
    for (size_t i = 0; i + options_.max_seen < by_age.size(); ++i) seen_.erase(by_age[i].second);
  }
  // Hand-written around the flows' and events' own JSON texts.
  std::string out;
  out.reserve(256 + flows_.size() * 1024 + seen_.size() * 32);
  absl::StrAppend(&out, R"({"version":)", kFormatVersion, R"(,"leader":)");
  AppendJsonString(out, options_.identity);
  out += R"(,"token":)";
  AppendJsonString(out, token_);
  out += R"(,"written":)";
  AppendJsonString(out, FormatRfc3339(now));
  out += R"(,"flows":[)";
  bool first = true;
  for (const auto& [id, record] : flows_) {
    if (!first) out += ',';
    first = false;
    absl::StrAppend(&out, R"({"flow":)", FlowStateToJson(record), R"(,"event":)", event_json_[id],
                    "}");
  }
  out += R"(],"cooldowns":[)";
  first = true;
  for (const auto& [group, until] : cooldowns_) {
    if (!first) out += ',';
    first = false;
    out += '[';
    AppendJsonString(out, group);
    absl::StrAppend(&out, ",", absl::ToUnixMillis(until), "]");
  }
  out += R"(],"seen":[)";
  first = true;
  for (const auto& [key, when] : seen_) {
    if (!first) out += ',';
    first = false;
    out += '[';
    AppendJsonString(out, key);
    absl::StrAppend(&out, ",", absl::ToUnixSeconds(when), "]");
  }
  out += "]}";
  return out;
}

absl::StatusOr<SharedStateContent> DecodeStateConfigMap(const json& cm) {
  SharedStateContent content;
  if (!cm.is_object()) return absl::InvalidArgumentError("the state ConfigMap is not an object");
  HT_ASSIGN_OR_RETURN(const std::string text, StateText(cm));
  if (text.empty()) return content;  // a new state
  const json state = json::parse(text, nullptr, false);
  if (!state.is_object()) return absl::InvalidArgumentError("state.json is not a JSON object");
  if (state.value("version", json()) != json(kFormatVersion)) {
    return absl::InvalidArgumentError(absl::StrCat("state.json has version ",
                                                   state.value("version", json()).dump(),
                                                   "; this engine reads version ", kFormatVersion));
  }
  try {
    for (const json& f : state.at("flows")) {
      SharedStateContent::Flow flow;
      absl::Status s = FlowStateFromJson(f.at("flow").dump(), &flow.record);
      flow.event_json = f.at("event").dump();
      absl::StatusOr<EventPtr> event = EventFromJson(flow.event_json);
      if (!s.ok() || !event.ok() || flow.record.steps.empty() ||
          flow.record.step >= flow.record.steps.size()) {
        ++content.skipped;
        continue;
      }
      flow.record.event = *event;
      content.flows.push_back(std::move(flow));
    }
    for (const json& c : state.at("cooldowns")) {
      content.cooldowns.emplace_back(c.at(0).get<std::string>(),
                                     absl::FromUnixMillis(JsonInteger<int64_t>(c.at(1))));
    }
    for (const json& k : state.at("seen")) {
      content.seen.emplace_back(k.at(0).get<std::string>(),
                                absl::FromUnixSeconds(JsonInteger<int64_t>(k.at(1))));
    }
  } catch (const std::exception& e) {  // nlohmann's, and JsonInteger's
    return absl::InvalidArgumentError(absl::StrCat("state.json: ", e.what()));
  }
  return content;
}

absl::Status SharedState::LoadLocked(const json& cm, Recovery* recovery) {
  HT_ASSIGN_OR_RETURN(SharedStateContent content, DecodeStateConfigMap(cm));
  if (content.skipped > 0) {
    recovery->skipped_rows += content.skipped;
    logger_.error("shared state: {} flows do not decode; skipped", content.skipped);
  }
  const absl::Time now = absl::Now();
  for (SharedStateContent::Flow& f : content.flows) {
    event_json_[f.record.id] = std::move(f.event_json);
    flows_[f.record.id] = f.record;
    recovery->unfinished.push_back(std::move(f.record));
  }
  for (const auto& [group, until] : content.cooldowns) {
    if (until <= now) continue;
    cooldowns_[group] = until;
    recovery->cooldowns.emplace_back(group, until);
  }
  for (const auto& [key, when] : content.seen) seen_[key] = when;
  return absl::OkStatus();
}

// --- The writer ---

void SharedState::WriterLoop() {
  absl::Duration wait = options_.retry_wait;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      while (!stop_ && !(leading_ && changes_ > written_)) wake_.Wait(&mu_);
      if (stop_) return;
    }
    if (WriteOnce()) {
      wait = options_.retry_wait;
      continue;
    }
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    if (leading_) {  // a failed write: try again soon
      wake_.WaitWithTimeout(&mu_, wait);
      wait = std::min(wait * 2, absl::Seconds(2));
    }
  }
}

bool SharedState::WriteOnce() {
  std::string text;
  std::string rv;
  std::string token;
  size_t flows;
  uint64_t covers;
  std::vector<std::function<void()>> callbacks;
  std::vector<std::string> removals;
  {
    absl::MutexLock lock(&mu_);
    if (!leading_) return false;
    text = SerializeLocked(absl::Now());
    rv = resource_version_;
    token = token_;
    flows = flows_.size();
    covers = changes_;
    callbacks.swap(on_durable_);
    removals.swap(to_remove_);
    writing_ = true;
  }
  json body = NewConfigMap(state_name_, "state");
  body["metadata"]["resourceVersion"] = rv;
  const size_t bytes = SetState(body, text, options_.identity, token, flows, absl::Now());
  absl::StatusOr<json> written =
      client_.Request("PUT", Path(state_name_),
                      body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
  std::string fenced_by;
  if (!written.ok() && IsConflict(written.status())) {
    // Someone wrote the state since our last write. Our own write whose
    // answer was lost looks the same: go on if the token is still ours.
    absl::StatusOr<json> now = client_.Get(Path(state_name_));
    if (now.ok()) {
      const json data = now->value("data", json::object());
      const bool readable = data.is_object() && data.value("token", json()).is_string() &&
                            data.value("leader", json()).is_string();
      absl::MutexLock lock(&mu_);
      if (readable && data["token"].get<std::string>() == token_) {
        resource_version_ = now->value("metadata", json::object()).value("resourceVersion", "");
      } else {
        fenced_by = readable ? data["leader"].get<std::string>() : "?";
      }
    }
  }
  absl::MutexLock lock(&mu_);
  if (written.ok()) {
    if (written->is_object()) {
      resource_version_ = written->value("metadata", json::object()).value("resourceVersion", "");
    }
    stats_.state_bytes = bytes;
    stats_.writes++;
    const bool still = leading_;
    mu_.Unlock();
    if (still) {
      for (auto& cb : callbacks) cb();
    }
    // The removed keys are recorded as dispatched: take them out of the
    // inboxes that hold them.
    absl::flat_hash_map<std::string, std::set<std::string>> by_inbox;
    {
      absl::MutexLock relock(&mu_);
      for (const std::string& key : removals) {
        auto h = holders_.find(key);
        if (h == holders_.end()) {
          by_inbox[inbox_name_].insert(key);
          continue;
        }
        for (const std::string& inbox : h->second) by_inbox[inbox].insert(key);
        holders_.erase(h);
      }
    }
    if (!by_inbox.empty()) RemoveFromInboxes(by_inbox);
    mu_.Lock();
    // Flush() returns from here on: the callbacks have run.
    written_ = std::max(written_, covers);
    writing_ = false;
    written_cv_.SignalAll();
    return true;
  }
  writing_ = false;
  written_cv_.SignalAll();
  // Not written: keep what it carried for the next write.
  on_durable_.insert(on_durable_.begin(), std::make_move_iterator(callbacks.begin()),
                     std::make_move_iterator(callbacks.end()));
  to_remove_.insert(to_remove_.end(), removals.begin(), removals.end());
  if (!fenced_by.empty() && leading_) {
    mu_.Unlock();
    Fenced(absl::StrCat("the shared state ", options_.ns, "/", state_name_,
                        " was written by another leader (", fenced_by, ")"));
    mu_.Lock();
    return false;
  }
  if (leading_) {
    logger_.warn("shared state {}/{}: write of {} bytes failed: {}; retrying", options_.ns,
                 state_name_, bytes, written.status().message());
  }
  return false;
}

void SharedState::Fenced(const std::string& why) {
  std::function<void(const std::string&)> cb;
  {
    absl::MutexLock lock(&mu_);
    if (!leading_) return;
    leading_ = false;
    on_durable_.clear();
    written_cv_.SignalAll();
    cb = std::move(on_fenced_);
    on_fenced_ = nullptr;
  }
  logger_.error("{}: this replica stops acting", why);
  if (cb) cb(why);
}

}  // namespace hollowtrees::engine
