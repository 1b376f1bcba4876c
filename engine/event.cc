#include "engine/event.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/rfc3339.h"

namespace hollowtrees::engine {

absl::string_view IntakeSourceName(IntakeSource source) {
  switch (source) {
    case IntakeSource::kPrometheus: return "prometheus";
    case IntakeSource::kAlertmanager: return "alertmanager";
    case IntakeSource::kCloudEvents: return "cloudevents";
    case IntakeSource::kReplay: return "replay";
  }
  return "unknown";
}

const std::string* FindLabel(const Labels& labels, absl::string_view name) {
  auto it = std::lower_bound(labels.begin(), labels.end(), name,
                             [](const auto& l, absl::string_view n) { return l.first < n; });
  if (it == labels.end() || it->first != name) return nullptr;
  return &it->second;
}

std::string Event::DedupKey() const { return absl::StrCat(source, "\n", id); }

io::cloudevents::v1::CloudEvent Event::ToProto() const {
  io::cloudevents::v1::CloudEvent ce;
  ce.set_id(id);
  ce.set_source(source);
  ce.set_spec_version("1.0");
  ce.set_type(type);
  auto& attrs = *ce.mutable_attributes();
  if (!datacontenttype.empty()) attrs["datacontenttype"].set_ce_string(datacontenttype);
  if (!dataschema.empty()) attrs["dataschema"].set_ce_uri(dataschema);
  if (!subject.empty()) attrs["subject"].set_ce_string(subject);
  if (time != absl::InfinitePast()) {
    auto* ts = attrs["time"].mutable_ce_timestamp();
    // Whole seconds (floored) and the nanoseconds past them: exact for any
    // year. (Unix nanoseconds saturate outside 1678..2262; fuzzing found
    // startsAt 1012-01-01 overflowing the old arithmetic.)
    const int64_t seconds = absl::ToUnixSeconds(time);
    ts->set_seconds(seconds);
    ts->set_nanos(static_cast<int32_t>(
        absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
  }
  for (const auto& [k, v] : extensions) attrs[k].set_ce_string(v);
  if (!data.empty()) {
    if (data_is_binary) {
      ce.set_binary_data(data);
    } else {
      ce.set_text_data(data);
    }
  }
  return ce;
}

uint64_t Fnv1a(uint64_t hash, absl::string_view data) {
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

uint64_t Fingerprint(const Labels& labels) {
  static constexpr char kSep[1] = {static_cast<char>(0xff)};
  uint64_t h = kFnvOffset;
  for (const auto& [name, value] : labels) {
    h = Fnv1a(h, name);
    h = Fnv1a(h, absl::string_view(kSep, 1));
    h = Fnv1a(h, value);
    h = Fnv1a(h, absl::string_view(kSep, 1));
  }
  return h;
}

std::string FingerprintHex(uint64_t fp) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, fp >>= 4) out[i] = kHex[fp & 0xf];
  return out;
}

}  // namespace hollowtrees::engine
