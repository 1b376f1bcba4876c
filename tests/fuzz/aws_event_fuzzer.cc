// libFuzzer target: SQS message bodies (EventBridge events, Auto Scaling
// lifecycle notifications, SNS notifications), through ParseAwsMessage,
// InstanceLabels and ToEngineEvent. Invariants, each an abort when broken:
// nothing throws; a kEvent has events, each with non-empty id, source and
// type and valid labels; other kinds have a printable reason and no events;
// the same body gives the same ids twice; ToEngineEvent's data is strict JSON
// with the event embedded as JSON, its labels sorted, unique and valid, and
// the event survives the protobuf format.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "engine/sources/aws_events.h"
#include "lib/common/strict_json.h"
#include "nlohmann/json.hpp"
#include "simdjson.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

using namespace hollowtrees;

void Fail(const char* what) {
  std::fprintf(stderr, "aws_event_fuzzer: %s\n", what);
  std::abort();
}

bool ValidValue(const std::string& v) {
  return !v.empty() && v.size() <= engine::kMaxAwsFieldBytes &&
         simdjson::validate_utf8(v.data(), v.size());
}

void CheckLabels(const std::map<std::string, std::string>& labels) {
  for (const auto& [name, value] : labels) {
    if (!engine::IsValidLabelName(name)) Fail("a label name is not valid");
    if (!ValidValue(value)) Fail("a label value is not valid");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view body = fuzz::AsView(data, size);
  const engine::AwsMessage m = engine::ParseAwsMessage(body);

  if (m.kind != engine::AwsMessageKind::kEvent) {
    if (!m.events.empty()) Fail("a message that is not an event has events");
    if (m.reason.empty()) Fail("a message that is not an event has no reason");
    for (const char c : m.reason) {
      if (c < 0x20 || c > 0x7E) Fail("a reason is not printable ASCII");
    }
    return 0;
  }
  if (m.events.empty() || !m.reason.empty()) Fail("an event message has no events, or a reason");
  if (m.events.size() > engine::kMaxAwsInstancesPerMessage) Fail("more events than the limit");

  // An instance description made of the input: its labels must be valid too.
  aws::Ec2Instance instance;
  instance.instance_type = std::string(body.substr(0, 16));
  instance.availability_zone = "us-east-1a";
  instance.tags["eks:cluster-name"] = std::string(body.substr(size / 2, 32));
  instance.tags["kubernetes.io/cluster/" + std::string(body.substr(0, 24))] = "owned";
  instance.tags["aws:autoscaling:groupName"] = std::string(body.substr(size / 3, 40));
  const std::map<std::string, std::string> instance_labels = engine::InstanceLabels(instance);
  CheckLabels(instance_labels);

  const engine::AwsMessage again = engine::ParseAwsMessage(body);
  if (again.events.size() != m.events.size()) Fail("the same body gave another number of events");
  for (size_t i = 0; i < m.events.size(); ++i) {
    const engine::AwsEvent& ev = m.events[i];
    if (ev.id.empty() || ev.source.empty() || ev.type.empty())
      Fail("an event lacks id, source or type");
    if (again.events[i].id != ev.id) Fail("the same body gave another id");
    CheckLabels(ev.labels);
    if (!ev.subject.empty()) {
      const auto it = ev.labels.find("instance_id");
      if (it == ev.labels.end() || it->second != ev.subject) Fail("subject and instance_id differ");
    }
    if (!ParseStrictJson(ev.raw).ok()) Fail("raw is not strict JSON");

    engine::EventPtr e = engine::ToEngineEvent(ev, instance_labels, fuzz::FixedNow());
    absl::StatusOr<nlohmann::json> parsed = ParseStrictJson(e->data);
    if (!parsed.ok()) Fail("ToEngineEvent's data is not strict JSON");
    if (!parsed->is_object() || parsed->size() != 2 || !parsed->contains("labels") ||
        !(*parsed)["labels"].is_object() || !parsed->contains("event") ||
        !(*parsed)["event"].is_object()) {
      Fail("data is not {\"labels\": {...}, \"event\": <JSON>}");
    }
    for (size_t j = 0; j < e->labels.size(); ++j) {
      if (j > 0 && !(e->labels[j - 1].first < e->labels[j].first))
        Fail("labels are not sorted and unique");
      if (!engine::IsValidLabelName(e->labels[j].first) || !ValidValue(e->labels[j].second)) {
        Fail("an engine label is not valid");
      }
    }
    fuzz::Touch(*e);
  }
  return 0;
}
