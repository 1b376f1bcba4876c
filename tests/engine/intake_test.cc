#include "absl/strings/str_cat.h"
#include "engine/intake/alerts.h"
#include "engine/intake/cloudevents.h"
#include "engine/dispatch/dispatcher.h"
#include "engine/intake/intake.h"
#include "engine/rules/matcher.h"
#include "lib/common/rfc3339.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/null_sink.h"
#include "spdlog/spdlog.h"
#include "tests/engine/fakes.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees::engine {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

const absl::Time kNow = absl::FromUnixSeconds(1704067200);  // 2024-01-01T00:00:00Z

constexpr char kFiring[] = R"([{
  "labels": {"alertname": "SpotTerminationNotice", "instance_id": "i-1", "cluster_name": "c", "empty": ""},
  "annotations": {"summary": "going away"},
  "startsAt": "2023-12-31T23:59:00.123Z",
  "endsAt": "2024-01-01T00:04:00Z",
  "generatorURL": "http://prometheus:9090/graph?g0.expr=x"
}])";

TEST(AlertsTest, ParsesAPrometheusPush) {
  ASSERT_OK_AND_ASSIGN(AlertBatch b, ParsePrometheusAlerts(kFiring, kNow));
  ASSERT_EQ(b.alerts.size(), 1u);
  const ParsedAlert& a = b.alerts[0];
  EXPECT_THAT(a.labels, ElementsAre(Pair("alertname", "SpotTerminationNotice"),
                                    Pair("cluster_name", "c"), Pair("instance_id", "i-1")))
      << "sorted, empty values dropped";
  EXPECT_EQ(a.status, AlertStatus::kFiring);
  EXPECT_EQ(a.id, absl::StrCat(FingerprintHex(a.fingerprint), "-1704067140123"));
}

// Limits: each alert or event over one is refused alone, naming the bound
// and its configuration key; the rest of the batch is kept.
TEST(LimitsTest, AnAlertOverALimitIsRefusedAloneNamingIt) {
  const EventLimits limits{.max_labels = 4, .max_label_name_bytes = 10,
                           .max_label_value_bytes = 16, .max_attribute_bytes = 32};
  nlohmann::json batch = nlohmann::json::array();
  auto alert = [](nlohmann::json labels) {
    labels["alertname"] = "A";
    return nlohmann::json{{"labels", labels}};
  };
  batch.push_back(alert({{"a", "1"}}));                                    // fine
  batch.push_back(alert({{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}}));  // 5 labels
  batch.push_back(alert({{"longerlabel", "1"}}));                          // name of 11
  batch.push_back(alert({{"v", std::string(17, 'x')}}));                   // value of 17
  nlohmann::json url = alert({{"a", "2"}});
  url["generatorURL"] = "http://prometheus:9090/" + std::string(20, 'g');
  batch.push_back(url);                                                   // URL of 43
  nlohmann::json notes = alert({{"a", "3"}});
  notes["annotations"] = {{"summary", std::string(17, 's')}};
  batch.push_back(notes);                                                 // annotation of 17
  for (auto parse : {&ParsePrometheusAlerts}) {
    ASSERT_OK_AND_ASSIGN(AlertBatch b, parse(batch.dump(), kNow, limits));
    ASSERT_EQ(b.alerts.size(), 1u);
    ASSERT_EQ(b.rejected.size(), 5u);
    EXPECT_EQ(b.rejected[0].index, 1);
    EXPECT_THAT(b.rejected[0].error, HasSubstr("labels: 5 entries, more than the limit of 4 (intake.max_labels)"));
    EXPECT_THAT(b.rejected[1].error, HasSubstr("intake.max_label_name_bytes"));
    EXPECT_THAT(b.rejected[2].error, HasSubstr("labels.v: a value of 17 bytes"));
    EXPECT_THAT(b.rejected[2].error, HasSubstr("intake.max_label_value_bytes"));
    EXPECT_THAT(b.rejected[3].error, HasSubstr("generatorURL: 43 bytes"));
    EXPECT_THAT(b.rejected[4].error, HasSubstr("annotations.summary"));
  }
  // The defaults take what real alerts carry.
  ASSERT_OK_AND_ASSIGN(AlertBatch d, ParsePrometheusAlerts(batch.dump(), kNow));
  EXPECT_EQ(d.alerts.size(), 6u);
}

TEST(LimitsTest, ACloudEventOverALimitIsRefusedNamingIt) {
  const EventLimits limits{.max_labels = 2, .max_attribute_bytes = 16};
  auto event = [](const std::string& id, nlohmann::json labels) {
    return nlohmann::json{{"specversion", "1.0"}, {"id", id}, {"source", "s"}, {"type", "t"},
                          {"datacontenttype", "application/json"},
                          {"data", {{"labels", labels}}}};
  };
  EXPECT_THAT(ParseStructuredCloudEvent(event(std::string(17, 'i'), {}).dump(), kNow, limits),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("id: 17 bytes, longer than the limit of 16 (intake.max_attribute_bytes)")));
  nlohmann::json batch = {event("ok", {{"a", "1"}}), event("many", {{"a", "1"}, {"b", "2"}, {"c", "3"}})};
  ASSERT_OK_AND_ASSIGN(CloudEventBatch b, ParseCloudEventBatch(batch.dump(), kNow, limits));
  ASSERT_EQ(b.events.size(), 1u);
  ASSERT_EQ(b.rejected.size(), 1u);
  EXPECT_EQ(b.rejected[0].index, 1);
  EXPECT_THAT(b.rejected[0].error, HasSubstr("data.labels: 3 entries"));
  EXPECT_THAT(ParseBinaryCloudEvent({{"ce-specversion", "1.0"}, {"ce-id", "1"}, {"ce-source", "s"},
                                     {"ce-type", std::string(40, 't')}},
                                    "application/json", "{}", kNow, limits),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("type: 40 bytes")));
}

TEST(AlertsTest, FingerprintIsAlertmanagers) {
  // FNV-1a 64 over name, 0xff, value, 0xff of the sorted pairs. The empty
  // label set hashes to the FNV offset basis.
  EXPECT_EQ(FingerprintHex(Fingerprint({})), "cbf29ce484222325");
  // Independent computation for {a="b"}.
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : std::string("a\xff" "b\xff")) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  EXPECT_EQ(Fingerprint({{"a", "b"}}), h);
  EXPECT_NE(Fingerprint({{"a", "b"}}), Fingerprint({{"a", "c"}}));
  EXPECT_NE(Fingerprint({{"ab", ""}}), Fingerprint({{"a", "b"}}));
}

TEST(AlertsTest, IdIsStableAcrossResendsAndDistinguishesInstancesAndStatus) {
  ASSERT_OK_AND_ASSIGN(AlertBatch first, ParsePrometheusAlerts(kFiring, kNow));
  // A re-send a minute later: endsAt moved on, labels in another order.
  const std::string resend = R"([{"labels":{"instance_id":"i-1","cluster_name":"c","alertname":"SpotTerminationNotice"},
    "startsAt":"2023-12-31T23:59:00.123Z","endsAt":"2024-01-01T00:05:00Z","generatorURL":"http://prometheus:9090/graph?g0.expr=x"}])";
  ASSERT_OK_AND_ASSIGN(AlertBatch again, ParsePrometheusAlerts(resend, kNow + absl::Minutes(1)));
  EXPECT_EQ(first.alerts[0].id, again.alerts[0].id);
  // The same labels firing anew (new startsAt) is another instance.
  const std::string refired = R"([{"labels":{"alertname":"SpotTerminationNotice","instance_id":"i-1","cluster_name":"c"},
    "startsAt":"2024-01-01T01:00:00Z"}])";
  ASSERT_OK_AND_ASSIGN(AlertBatch other, ParsePrometheusAlerts(refired, kNow));
  EXPECT_NE(first.alerts[0].id, other.alerts[0].id);
  // Resolved: endsAt not after now.
  ASSERT_OK_AND_ASSIGN(AlertBatch resolved, ParsePrometheusAlerts(kFiring, kNow + absl::Minutes(10)));
  EXPECT_EQ(resolved.alerts[0].status, AlertStatus::kResolved);
  EXPECT_EQ(resolved.alerts[0].id, first.alerts[0].id + "-resolved");
}

TEST(AlertsTest, ConvertsToACloudEvent) {
  ASSERT_OK_AND_ASSIGN(AlertBatch b, ParsePrometheusAlerts(kFiring, kNow));
  const std::string id = b.alerts[0].id;
  EventPtr e = AlertToEvent(std::move(b.alerts[0]), IntakeSource::kPrometheus, "fallback", kNow);
  EXPECT_EQ(e->type, "prometheus.server.alert.SpotTerminationNotice");
  EXPECT_EQ(e->id, id);
  EXPECT_EQ(e->source, "http://prometheus:9090/graph?g0.expr=x");
  EXPECT_EQ(e->time, absl::FromUnixMillis(1704067140123));
  EXPECT_EQ(e->datacontenttype, "application/json");
  auto data = nlohmann::json::parse(e->Data());
  EXPECT_EQ(data["status"], "firing");
  EXPECT_EQ(data["labels"]["instance_id"], "i-1");
  EXPECT_EQ(data["annotations"]["summary"], "going away");
  EXPECT_EQ(data["startsAt"], "2023-12-31T23:59:00.123Z");
  EXPECT_EQ(data["generatorURL"], "http://prometheus:9090/graph?g0.expr=x");
  EXPECT_EQ(data["endsAt"], "2024-01-01T00:04:00Z");
  EXPECT_EQ(data["fingerprint"], FingerprintHex(Fingerprint(e->labels)));
  EXPECT_EQ(data["labels"].size(), 3u);
  // The protobuf form: labels stay inside data, never extension attributes.
  auto proto = e->ToProto();
  EXPECT_EQ(proto.spec_version(), "1.0");
  EXPECT_EQ(proto.attributes().at("datacontenttype").ce_string(), "application/json");
  EXPECT_EQ(proto.attributes().at("time").ce_timestamp().seconds(), 1704067140);
  EXPECT_EQ(proto.attributes().at("time").ce_timestamp().nanos(), 123000000);
  EXPECT_FALSE(proto.attributes().contains("cluster_name"));
  EXPECT_EQ(proto.text_data(), e->Data());
}

TEST(AlertsTest, DataEscapesWhatJsonMust) {
  ASSERT_OK_AND_ASSIGN(AlertBatch b, ParsePrometheusAlerts(
      R"([{"labels":{"alertname":"A","q":"say \"hi\"\n\u0001\\ é"},"annotations":{"d":"\t"}}])", kNow));
  EventPtr e = AlertToEvent(std::move(b.alerts[0]), IntakeSource::kPrometheus, "s", kNow);
  auto data = nlohmann::json::parse(e->Data());
  EXPECT_EQ(data["labels"]["q"], "say \"hi\"\n\u0001\\ é");
  EXPECT_EQ(data["annotations"]["d"], "\t");
  EXPECT_EQ(data["startsAt"], "");
  // And the journal's form round-trips it.
  ASSERT_OK_AND_ASSIGN(EventPtr back, EventFromJson(EventToJson(*e)));
  EXPECT_EQ(back->Data(), e->Data());
  EXPECT_EQ(back->labels, e->labels);
  EXPECT_EQ(back->id, e->id);
}

// The journal's form of an event: everything a restart needs, each thing
// once, and what an older journal wrote still reads.
TEST(JournalFormTest, AlertsKeepTheirLabelsOnceAndRoundTrip) {
  ASSERT_OK_AND_ASSIGN(AlertBatch b, ParsePrometheusAlerts(R"([
    {"labels":{"alertname":"X","cluster_name":"c1","instance_id":"i-1"},
     "annotations":{"summary":"s"},"startsAt":"2024-01-01T00:00:00.5Z","endsAt":"2024-01-01T00:05:00Z",
     "generatorURL":"http://prom/graph"},
    {"labels":{"alertname":"Y","zone":"z"},"status":"resolved"}])", kNow));
  for (ParsedAlert& alert : b.alerts) {
    EventPtr e = AlertToEvent(std::move(alert), IntakeSource::kAlertmanager, "fallback", kNow);
    const std::string form = EventToJson(*e);
    const std::string name = absl::StrCat("\"", e->labels.back().first, "\"");
    EXPECT_NE(form.find(name), std::string::npos) << form;
    EXPECT_EQ(form.find(name), form.rfind(name)) << "labels once: " << form;
    ASSERT_OK_AND_ASSIGN(EventPtr back, EventFromJson(form));
    EXPECT_EQ(back->Data(), e->Data());
    EXPECT_EQ(back->ToProto().DebugString(), e->ToProto().DebugString());
    EXPECT_EQ(back->DedupKey(), e->DedupKey());
    EXPECT_EQ(back->labels, e->labels);
    EXPECT_EQ(back->status, e->status);
    EXPECT_EQ(back->intake, IntakeSource::kAlertmanager);
    EXPECT_EQ(back->received, kNow);
  }
}

TEST(JournalFormTest, CloudEventsRoundTripEveryAttribute) {
  ASSERT_OK_AND_ASSIGN(EventPtr text, ParseStructuredCloudEvent(R"({
    "specversion": "1.0", "id": "n-1", "source": "/s", "type": "t", "time": "2024-01-01T00:00:00Z",
    "subject": "i-1", "dataschema": "http://schema", "myext": "v",
    "data": {"labels": {"instance_id": "i-1"}}})", kNow));
  ASSERT_OK_AND_ASSIGN(EventPtr bin, ParseStructuredCloudEvent(
      R"({"specversion":"1.0","id":"2","source":"/s","type":"t","datacontenttype":"application/octet-stream","data_base64":"AAEC"})", kNow));
  for (const EventPtr& e : {text, bin}) {
    ASSERT_OK_AND_ASSIGN(EventPtr back, EventFromJson(EventToJson(*e)));
    EXPECT_EQ(back->ToProto().DebugString(), e->ToProto().DebugString());
    EXPECT_EQ(back->data, e->data);
    EXPECT_EQ(back->data_is_binary, e->data_is_binary);
    EXPECT_EQ(back->labels, e->labels);
    EXPECT_EQ(back->intake, IntakeSource::kCloudEvents);
  }
}

TEST(JournalFormTest, ReadsTheFirstFormOfAnAlert) {
  // A row as 0.1.0 wrote it (taken from a journal of ht-engine-bench).
  ASSERT_OK_AND_ASSIGN(EventPtr e, EventFromJson(R"({"id":"4db29dbe9d59f9b6-1795254079786","source":"http://bench.invalid/g","type":"prometheus.server.alert.BenchLoad","subject":"","datacontenttype":"application/json","dataschema":"","time_ns":1795254079786000000,"extensions":[],"data_json":{"status":"firing","labels":{"alertname":"BenchLoad","seq":"0"},"annotations":{"summary":"load"},"startsAt":"2026-11-21T09:41:19.786Z","endsAt":"2026-11-21T09:46:19.786Z","generatorURL":"http://bench.invalid/g","fingerprint":"4db29dbe9d59f9b6"},"data_is_binary":false,"labels":[["alertname","BenchLoad"],["seq","0"]],"resolved":false,"intake":0,"received_ns":1795254079786633725})"));
  EXPECT_EQ(e->id, "4db29dbe9d59f9b6-1795254079786");
  EXPECT_THAT(e->labels, ElementsAre(Pair("alertname", "BenchLoad"), Pair("seq", "0")));
  auto data = nlohmann::json::parse(e->Data());
  EXPECT_EQ(data["annotations"]["summary"], "load");
  EXPECT_EQ(data["startsAt"], "2026-11-21T09:41:19.786Z");
  EXPECT_EQ(data["generatorURL"], "http://bench.invalid/g");
  EXPECT_EQ(data["fingerprint"], "4db29dbe9d59f9b6");
  EXPECT_FALSE(e->data_is_binary);
}

TEST(AlertsTest, WithoutGeneratorUrlTheFallbackSourceIsUsed) {
  ASSERT_OK_AND_ASSIGN(AlertBatch b, ParsePrometheusAlerts(R"([{"labels":{"alertname":"A"}}])", kNow));
  EventPtr e = AlertToEvent(std::move(b.alerts[0]), IntakeSource::kPrometheus, "hollowtrees", kNow);
  EXPECT_EQ(e->source, "hollowtrees");
  EXPECT_EQ(e->time, kNow);
  EXPECT_EQ(e->id, FingerprintHex(Fingerprint({{"alertname", "A"}})));
}

TEST(AlertsTest, BadAlertsAreRefusedOneByOne) {
  const std::string body = R"([
    {"labels": {"alertname": "Good"}},
    {"labels": {"instance": "x"}},
    {"annotations": {}},
    {"labels": {"alertname": "A", "bad-name": "v"}},
    {"labels": {"alertname": "A", "n": 5}},
    {"labels": {"alertname": "A"}, "startsAt": "lunchtime"},
    "not an object",
    {"labels": {"alertname": "Good2"}, "startsAt": "2024-01-01T00:00:00+02:00"}
  ])";
  ASSERT_OK_AND_ASSIGN(AlertBatch b, ParsePrometheusAlerts(body, kNow));
  ASSERT_EQ(b.alerts.size(), 2u);
  ASSERT_EQ(b.rejected.size(), 6u);
  EXPECT_EQ(b.rejected[0].index, 1);
  EXPECT_EQ(b.rejected[0].error, "alert has no alertname label");
  EXPECT_EQ(b.rejected[1].error, "alert has no labels");
  EXPECT_EQ(b.rejected[2].error, "labels: invalid label name \"bad-name\"");
  EXPECT_EQ(b.rejected[3].error, "labels.n must be a string");
  EXPECT_THAT(b.rejected[4].error, HasSubstr("startsAt: \"lunchtime\" is not an RFC 3339 timestamp"));
  EXPECT_EQ(b.rejected[5].index, 6);
  EXPECT_EQ(b.alerts[1].starts_at, absl::FromUnixSeconds(1704067200 - 7200));
}

TEST(AlertsTest, BodiesThatAreNotAlertArraysAreRefusedWhole) {
  EXPECT_THAT(ParsePrometheusAlerts("{", kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
  EXPECT_THAT(ParsePrometheusAlerts(R"({"labels":{}})", kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("JSON array of alerts")));
  EXPECT_THAT(ParsePrometheusAlerts("", kNow), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(AlertBatch empty, ParsePrometheusAlerts("[]", kNow));
  EXPECT_TRUE(empty.alerts.empty());
}

TEST(WebhookTest, ParsesVersion4WithStatus) {
  const std::string body = R"({
    "version": "4", "groupKey": "{}:{alertname=\"X\"}", "truncatedAlerts": 0, "status": "firing",
    "receiver": "hollowtrees", "groupLabels": {"alertname": "X"}, "commonLabels": {"alertname": "X"},
    "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
    "alerts": [
      {"status": "firing", "labels": {"alertname": "X", "i": "1"}, "annotations": {},
       "startsAt": "2024-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
       "generatorURL": "", "fingerprint": "abc"},
      {"status": "resolved", "labels": {"alertname": "X", "i": "2"}, "annotations": {},
       "startsAt": "2023-12-31T00:00:00Z", "endsAt": "2024-01-01T00:10:00Z",
       "generatorURL": "http://prom/g", "fingerprint": "def"},
      {"status": "pending", "labels": {"alertname": "X"}}
    ]})";
  ASSERT_OK_AND_ASSIGN(AlertBatch b, ParseAlertmanagerWebhook(body, kNow));
  ASSERT_EQ(b.alerts.size(), 2u);
  EXPECT_EQ(b.alerts[0].status, AlertStatus::kFiring);
  EXPECT_EQ(b.alerts[0].ends_at, absl::InfinitePast()) << "Go's zero time means not set";
  EXPECT_EQ(b.alerts[1].status, AlertStatus::kResolved) << "status wins over times";
  EXPECT_EQ(b.external_url, "http://alertmanager:9093");
  ASSERT_EQ(b.rejected.size(), 1u);
  EXPECT_THAT(b.rejected[0].error, HasSubstr("\"pending\""));
  EventPtr e = AlertToEvent(std::move(b.alerts[0]), IntakeSource::kAlertmanager, b.external_url, kNow);
  EXPECT_EQ(e->source, "http://alertmanager:9093");
}

TEST(WebhookTest, RefusesOtherShapes) {
  EXPECT_THAT(ParseAlertmanagerWebhook(R"({"version":"3","alerts":[]})", kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unsupported webhook version \"3\"")));
  EXPECT_THAT(ParseAlertmanagerWebhook(R"({"version":"4"})", kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no \"alerts\" array")));
  EXPECT_THAT(ParseAlertmanagerWebhook(R"([])", kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("webhook object")));
}

TEST(Rfc3339Test, StrictAsCloudEventsWants) {
  EXPECT_THAT(ParseRfc3339("2018-04-05T17:31:00Z"), IsOk());
  EXPECT_THAT(ParseRfc3339("2018-04-05t17:31:00.999999999z"), IsOk());
  EXPECT_THAT(ParseRfc3339("2018-04-05T17:31:00-07:30"), IsOk());
  for (const char* bad : {"lunchtime", "2018-04-05T18:31Z", "2018-04-05 17:31:00Z", "2018-02-30T00:00:00Z",
                          "2018-04-05T17:31:00", "2018-04-05T25:00:00Z", "2018-04-05T17:31:00.Z",
                          "2018-04-05T17:31:00Zjunk"}) {
    EXPECT_THAT(ParseRfc3339(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
  EXPECT_EQ(*ParseRfc3339("2024-02-29T12:00:00+01:00"), absl::FromUnixSeconds(1709204400));
  EXPECT_EQ(FormatRfc3339(absl::FromUnixMillis(1704067140123)), "2023-12-31T23:59:00.123Z");
  // The fast formatter agrees with absl's over a spread of instants.
  for (int64_t s = -2208988800; s < 4102444800; s += 7777777) {
    for (int64_t ns : {0, 1, 500000000, 123456789}) {
      const absl::Time t = absl::FromUnixSeconds(s) + absl::Nanoseconds(ns);
      EXPECT_EQ(FormatRfc3339(t), absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", t, absl::UTCTimeZone()));
      EXPECT_EQ(*ParseRfc3339(FormatRfc3339(t)), t);
    }
  }
}

TEST(CloudEventsTest, ModeFollowsContentType) {
  EXPECT_EQ(ModeForContentType("application/cloudevents+json; charset=utf-8"), CloudEventsMode::kStructured);
  EXPECT_EQ(ModeForContentType("application/cloudevents-batch+json"), CloudEventsMode::kBatch);
  EXPECT_EQ(ModeForContentType("application/json"), CloudEventsMode::kBinary);
  EXPECT_EQ(ModeForContentType(""), CloudEventsMode::kBinary);
}

TEST(CloudEventsTest, StructuredEventWithJsonData) {
  ASSERT_OK_AND_ASSIGN(EventPtr e, ParseStructuredCloudEvent(R"({
    "specversion": "1.0", "id": "n-1", "source": "spot-termination-exporter/i-1",
    "type": "prometheus.server.alert.SpotTerminationNotice", "time": "2024-01-01T00:00:00Z",
    "subject": "i-1", "myext": "v", "num": 5,
    "data": {"status": "firing", "labels": {"instance_id": "i-1", "cluster_name": "c"}}})", kNow));
  EXPECT_EQ(e->id, "n-1");
  EXPECT_EQ(e->subject, "i-1");
  EXPECT_THAT(e->extensions, ElementsAre(Pair("myext", "v"), Pair("num", "5")));
  EXPECT_THAT(e->labels, ElementsAre(Pair("cluster_name", "c"), Pair("instance_id", "i-1")));
  EXPECT_EQ(e->status, AlertStatus::kFiring);
  EXPECT_EQ(nlohmann::json::parse(e->data)["labels"]["instance_id"], "i-1");
  EXPECT_EQ(e->DedupKey(), "spot-termination-exporter/i-1\nn-1");
}

// Cases from the cloudevents/conformance suite's invalid events.
TEST(CloudEventsTest, ConformanceInvalidEvents) {
  const std::string base = R"("specversion":"1.0","id":"1","source":"/s","type":"t")";
  struct Case {
    std::string body;
    std::string error;
  } cases[] = {
      {absl::StrCat("{", base, R"(,"time":"lunchtime"})"), "time: \"lunchtime\" is not an RFC 3339"},
      {absl::StrCat("{", base, R"(,"time":"2018-04-05T18:31Z"})"), "is not an RFC 3339"},
      {absl::StrCat("{", base, R"(,"MyExtension":"x"})"), "invalid attribute name \"MyExtension\""},
      {absl::StrCat("{", base, R"(,"my.extension":"x"})"), "invalid attribute name \"my.extension\""},
      {absl::StrCat("{", base, R"(,"averyveryverylongextensionname":"x"})"), "invalid attribute name"},
      {absl::StrCat("{", base, R"(,"data":{},"data_base64":"eA=="})"), "both \"data\" and \"data_base64\""},
      {R"({"specversion":"0.3","id":"1","source":"/s","type":"t"})", "unsupported specversion \"0.3\""},
      {R"({"id":"1","source":"/s","type":"t"})", "missing required attribute \"specversion\""},
      {R"({"specversion":"1.0","source":"/s","type":"t"})", "missing required attribute \"id\""},
      {R"({"specversion":"1.0","id":"1","type":"t"})", "missing required attribute \"source\""},
      {R"({"specversion":"1.0","id":"1","source":"/s"})", "missing required attribute \"type\""},
      {absl::StrCat("{", base, R"(,"data_base64":"%%%"})"), "not valid base64"},
      {absl::StrCat("{", base, R"(,"ext":{"nested":1}})"), "must be a string, integer or boolean"},
      {"[1]", "must be a JSON object"},
      {"{", "not valid JSON"},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(ParseStructuredCloudEvent(c.body, kNow),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.error)))
        << c.body;
  }
}

TEST(CloudEventsTest, Base64AndTextData) {
  ASSERT_OK_AND_ASSIGN(EventPtr bin, ParseStructuredCloudEvent(
      R"({"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"application/octet-stream","data_base64":"AAEC"})", kNow));
  EXPECT_TRUE(bin->data_is_binary);
  EXPECT_EQ(bin->data, std::string("\x00\x01\x02", 3));
  EXPECT_EQ(bin->ToProto().binary_data(), bin->data);
  ASSERT_OK_AND_ASSIGN(EventPtr text, ParseStructuredCloudEvent(
      R"({"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"text/plain","data":"hello"})", kNow));
  EXPECT_EQ(text->data, "hello");
}

TEST(CloudEventsTest, BatchKeepsGoodEventsAndListsBadOnes) {
  ASSERT_OK_AND_ASSIGN(CloudEventBatch b, ParseCloudEventBatch(R"([
    {"specversion":"1.0","id":"1","source":"/s","type":"t"},
    {"specversion":"1.0","id":"2","source":"/s"},
    {"specversion":"1.0","id":"3","source":"/s","type":"t"}])", kNow));
  EXPECT_EQ(b.events.size(), 2u);
  ASSERT_EQ(b.rejected.size(), 1u);
  EXPECT_EQ(b.rejected[0].index, 1);
  EXPECT_THAT(ParseCloudEventBatch(R"({"specversion":"1.0"})", kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("JSON array")));
}

TEST(CloudEventsTest, BinaryModeFromHeaders) {
  std::vector<std::pair<std::string, std::string>> h = {
      {"Ce-Specversion", "1.0"}, {"ce-id", "abc"}, {"ce-source", "%2Fexporter%2Fi-1"},
      {"ce-type", "prometheus.server.alert.SpotTerminationNotice"},
      {"ce-time", "2024-01-01T00:00:00Z"}, {"ce-myext", "caf%C3%A9"}, {"Content-Type", "application/json"},
      {"X-Other", "ignored"}};
  ASSERT_OK_AND_ASSIGN(EventPtr e, ParseBinaryCloudEvent(h, "application/json",
                                                         R"({"labels":{"instance_id":"i-1"}})", kNow));
  EXPECT_EQ(e->source, "/exporter/i-1");
  EXPECT_EQ(e->datacontenttype, "application/json");
  EXPECT_THAT(e->extensions, ElementsAre(Pair("myext", "café")));
  EXPECT_THAT(e->labels, ElementsAre(Pair("instance_id", "i-1")));

  auto without = h;
  without.erase(without.begin());
  EXPECT_THAT(ParseBinaryCloudEvent(without, "application/json", "{}", kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ce-specversion")));
  EXPECT_THAT(ParseBinaryCloudEvent(h, "application/json", "{not json", kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
  auto bad_pct = h;
  bad_pct.push_back({"ce-x", "%zz"});
  EXPECT_THAT(ParseBinaryCloudEvent(bad_pct, "application/json", "{}", kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("percent-encoding")));
}

TEST(MatcherTest, OperatorsAndAnchoring) {
  Labels l = {{"env", "prod"}, {"instance_type", "m5.large"}};
  auto m = [](const char* text) {
    auto r = LabelMatcher::Parse(text);
    EXPECT_TRUE(r.ok()) << text << ": " << r.status();
    return *r;
  };
  EXPECT_TRUE(m(R"(env="prod")").Matches(l));
  EXPECT_FALSE(m(R"(env!="prod")").Matches(l));
  EXPECT_TRUE(m(R"(instance_type=~"m5.*|c5.*")").Matches(l));
  EXPECT_FALSE(m(R"(instance_type=~"m5")").Matches(l)) << "fully anchored";
  EXPECT_FALSE(m(R"(instance_type=~"large")").Matches(l)) << "fully anchored";
  EXPECT_TRUE(m(R"(instance_type!~"c5.*")").Matches(l));
  EXPECT_TRUE(m(R"(zone="")").Matches(l)) << "a missing label is the empty string";
  EXPECT_TRUE(m(R"(zone!~".+")").Matches(l));
  EXPECT_TRUE(m(R"(env = prod)").Matches(l)) << "unquoted values";
  EXPECT_TRUE(m(R"(instance_type=~"m5\.large")").Matches(l));
  EXPECT_EQ(m(R"(a=~"x\"y")").value(), "x\"y");
  EXPECT_THAT(LabelMatcher::Parse(R"(a=~"(")"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad regex")));
  EXPECT_THAT(LabelMatcher::Parse(R"(1a="x")"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid label name")));
  EXPECT_THAT(LabelMatcher::Parse(R"(a="x)"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unterminated")));
}

TEST(DedupTableTest, RemembersWithinTheWindowAndForgets) {
  DedupTable t(100000, absl::Minutes(10));
  EXPECT_FALSE(t.SeenOrInsert("a", kNow));
  EXPECT_TRUE(t.SeenOrInsert("a", kNow + absl::Minutes(9)));
  EXPECT_TRUE(t.SeenOrInsert("a", kNow + absl::Minutes(18))) << "each sighting refreshes";
  EXPECT_FALSE(t.SeenOrInsert("a", kNow + absl::Minutes(29)));
  t.Forget("a");
  EXPECT_FALSE(t.SeenOrInsert("a", kNow + absl::Minutes(29)));
  EXPECT_FALSE(t.SeenOrInsert("b", kNow));
  t.Sweep(kNow + absl::Hours(1));
  EXPECT_EQ(t.size(), 0u);
}

TEST(DedupTableTest, StaysWithinItsBound) {
  DedupTable t(64 * 16, absl::Hours(1));
  for (int i = 0; i < 20000; ++i) t.SeenOrInsert(absl::StrCat("k", i), kNow + absl::Milliseconds(i));
  EXPECT_LE(t.size(), 64u * 16u + 64u);
  EXPECT_TRUE(t.SeenOrInsert("k19999", kNow + absl::Seconds(30))) << "the newest stay";
  // All at one instant (one big request): still bounded.
  DedupTable same(64 * 16, absl::Hours(1));
  for (int i = 0; i < 20000; ++i) same.SeenOrInsert(absl::StrCat("s", i), kNow);
  EXPECT_LE(same.size(), 64u * 16u + 64u);
}

TEST(DedupTableTest, EvictsTheLeastRecentlySeenFirst) {
  // 64 shards of 16: "keep" keys are seen again as the flood goes on, so
  // they outlive keys that were inserted after them and never seen again.
  DedupTable t(64 * 16, absl::Hours(1));
  absl::Time now = kNow;
  for (int k = 0; k < 64; ++k) t.SeenOrInsert(absl::StrCat("keep", k), now);
  for (int i = 0; i < 5000; ++i) {
    now += absl::Milliseconds(1);
    t.SeenOrInsert(absl::StrCat("flood", i), now);
    if (i % 100 == 0) {
      for (int k = 0; k < 64; ++k) EXPECT_TRUE(t.SeenOrInsert(absl::StrCat("keep", k), now)) << k;
    }
  }
  int kept = 0;
  for (int k = 0; k < 64; ++k) kept += t.SeenOrInsert(absl::StrCat("keep", k), now) ? 1 : 0;
  EXPECT_EQ(kept, 64);
  int early_flood = 0;
  for (int i = 0; i < 100; ++i) early_flood += t.SeenOrInsert(absl::StrCat("flood", i), now) ? 1 : 0;
  EXPECT_EQ(early_flood, 0) << "unrefreshed old keys go first";
  EXPECT_LE(t.size(), 64u * 16u + 64u);
}

TEST(DedupTableTest, ForgottenKeysLeaveNoTrace) {
  DedupTable t(64 * 16, absl::Minutes(10));
  // Forget and re-insert the same keys many times (a retried batch refused
  // while the queue is full): the count stays exact and the queue's stale
  // records do not evict live keys before their time.
  for (int round = 0; round < 50; ++round) {
    for (int k = 0; k < 100; ++k) {
      EXPECT_FALSE(t.SeenOrInsert(absl::StrCat("r", k), kNow)) << round << " " << k;
      t.Forget(absl::StrCat("r", k));
    }
  }
  EXPECT_EQ(t.size(), 0u);
  for (int k = 0; k < 100; ++k) EXPECT_FALSE(t.SeenOrInsert(absl::StrCat("r", k), kNow));
  EXPECT_EQ(t.size(), 100u);
  for (int k = 0; k < 100; ++k) EXPECT_TRUE(t.SeenOrInsert(absl::StrCat("r", k), kNow));
  t.Sweep(kNow + absl::Minutes(5));
  EXPECT_EQ(t.size(), 100u) << "nothing expired yet";
  t.Sweep(kNow + absl::Minutes(11));
  EXPECT_EQ(t.size(), 0u);
}

TEST(DedupTableTest, SweepKeepsWhatWasSeenAgain) {
  DedupTable t(100000, absl::Minutes(10));
  for (int k = 0; k < 1000; ++k) t.SeenOrInsert(absl::StrCat("k", k), kNow);
  for (int k = 0; k < 1000; k += 2) t.SeenOrInsert(absl::StrCat("k", k), kNow + absl::Minutes(8));
  t.Sweep(kNow + absl::Minutes(12));
  EXPECT_EQ(t.size(), 500u);
  for (int k = 0; k < 1000; ++k) {
    EXPECT_EQ(t.SeenOrInsert(absl::StrCat("k", k), kNow + absl::Minutes(12)), k % 2 == 0) << k;
  }
}

class BackpressureTest : public ::testing::Test {
 protected:
  BackpressureTest()
      : logger_("t", std::make_shared<spdlog::sinks::null_sink_mt>()), metrics_(registry_),
        dispatcher_(scheduler_, plugins_, store_, metrics_, logger_),
        dedup_(100000, absl::Hours(1)),
        intake_(dedup_, dispatcher_, nullptr, metrics_, IntakeConfig{.queue_capacity = 3}) {}

  AlertBatch Batch(int from, int n) {
    std::string body = "[";
    for (int i = from; i < from + n; ++i) {
      absl::StrAppend(&body, i > from ? "," : "", R"({"labels":{"alertname":"X","i":")", i, R"("}})");
    }
    body += "]";
    return *ParsePrometheusAlerts(body, kNow);
  }

  spdlog::logger logger_;
  metrics::Registry registry_;
  EngineMetrics metrics_;
  testing::FakeScheduler scheduler_;  // never run: the backlog only grows
  testing::FakePluginClient plugins_;
  MemoryFlowStore store_;
  Dispatcher dispatcher_;
  DedupTable dedup_;
  Intake intake_;
};

TEST_F(BackpressureTest, PrometheusKeepsWhatFitsRetryingSendersGet503) {
  IntakeResult r = intake_.AcceptAlerts(Batch(0, 2), IntakeSource::kPrometheus, kNow);
  EXPECT_EQ(r.accepted, 2);
  r = intake_.AcceptAlerts(Batch(2, 3), IntakeSource::kPrometheus, kNow);
  EXPECT_EQ(r.accepted, 1);
  EXPECT_EQ(r.dropped, 2);
  EXPECT_TRUE(r.unavailable.ok());
  EXPECT_EQ(metrics_.events_dropped.WithLabels({"prometheus"}).Value(), 2);
  EXPECT_EQ(dispatcher_.backlog(), 3u);
  // The webhook retries on 5xx: refuse the whole request, take nothing.
  r = intake_.AcceptAlerts(Batch(10, 1), IntakeSource::kAlertmanager, kNow);
  EXPECT_EQ(r.unavailable.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r.accepted, 0);
  EXPECT_THAT(r.ToJson(), HasSubstr("queue full"));
  // What was refused is not remembered as seen: its re-send is taken once
  // there is room again.
  scheduler_.RunPending();
  EXPECT_EQ(dispatcher_.backlog(), 0u);
  r = intake_.AcceptAlerts(Batch(3, 2), IntakeSource::kPrometheus, kNow);
  EXPECT_EQ(r.accepted, 2) << "the dropped alerts were forgotten, not absorbed";
  r = intake_.AcceptAlerts(Batch(10, 1), IntakeSource::kAlertmanager, kNow);
  EXPECT_EQ(r.accepted, 1);
}

// Found by tests/e2e/badinput: 100k nested arrays in `data` overflowed the
// stack (nlohmann's dump() recurses) and killed the engine.
TEST(BadInputRegressionTest, DeepNestingInCloudEventDataIsRefused) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string body = absl::StrCat(
      R"({"specversion":"1.0","id":"1","source":"/s","type":"t","data":)", deep, "}");
  EXPECT_THAT(ParseStructuredCloudEvent(body, absl::Now()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nested deeper")));
  EXPECT_THAT(ParseCloudEventBatch(absl::StrCat("[", body, "]"), absl::Now()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nested deeper")));
  EXPECT_FALSE(ParseBinaryCloudEvent({{"ce-specversion", "1.0"}, {"ce-id", "1"},
                                      {"ce-source", "/s"}, {"ce-type", "t"}},
                                     "application/json", deep, absl::Now())
                   .ok());
}

TEST(BadInputRegressionTest, CloudEventDuplicatesAndControlCharactersAreRefused) {
  EXPECT_THAT(ParseStructuredCloudEvent(
                  R"({"specversion":"1.0","id":"1","id":"2","source":"/s","type":"t"})", absl::Now())
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate key")));
  EXPECT_THAT(ParseStructuredCloudEvent(
                  R"({"specversion":"1.0","id":"a\u0000b","source":"/s","type":"t"})", absl::Now())
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("control character")));
  EXPECT_THAT(ParseBinaryCloudEvent({{"ce-specversion", "1.0"}, {"ce-id", "a%00b"},
                                     {"ce-source", "/s"}, {"ce-type", "t"}},
                                    "application/json", "", absl::Now())
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("control character")));
  EXPECT_THAT(ParseBinaryCloudEvent({{"ce-specversion", "1.0"}, {"ce-id", "1"}, {"ce-id", "2"},
                                     {"ce-source", "/s"}, {"ce-type", "t"}},
                                    "application/json", "", absl::Now())
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate header")));
}

// simdjson keeps duplicate keys: a second "labels" was merged into the first.
TEST(BadInputRegressionTest, AlertDuplicateFieldsAreRefused) {
  auto batch = ParsePrometheusAlerts(
      R"([{"labels":{"alertname":"A"},"labels":{"instance":"i-2"}}])", absl::Now());
  ASSERT_THAT(batch.status(), IsOk());
  ASSERT_EQ(batch->rejected.size(), 1u);
  EXPECT_THAT(batch->rejected[0].error, HasSubstr("duplicate field \"labels\""));
  EXPECT_THAT(ParseAlertmanagerWebhook(R"({"version":"4","version":"3","alerts":[]})", absl::Now())
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate field")));
}

}  // namespace
}  // namespace hollowtrees::engine
