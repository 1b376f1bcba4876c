// Regression tests for what the libFuzzer targets (tests/fuzz) found, one
// case per finding, each with the smallest input that showed it.

#include "absl/time/civil_time.h"
#include "engine/intake/alerts.h"
#include "engine/intake/cloudevents.h"
#include "engine/rules/config.h"
#include "engine/http/jwt.h"
#include "lib/common/rfc3339.h"
#include "engine/rules/ruleset.h"
#include "engine/store/flow_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees::engine {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

// What a plugin receives must parse back.
io::cloudevents::v1::CloudEvent RoundTrip(const Event& e) {
  std::string wire;
  EXPECT_TRUE(e.ToProto().SerializeToString(&wire));
  io::cloudevents::v1::CloudEvent back;
  EXPECT_TRUE(back.ParseFromString(wire)) << "the event does not survive the protobuf format";
  return back;
}

// Found by prometheus_alerts_fuzzer, alertmanager_webhook_fuzzer and
// cloudevents_json_fuzzer: a time before 1678 (Unix nanoseconds saturate)
// overflowed the seconds/nanos arithmetic of ToProto (UBSan: signed
// overflow in event.cc) and produced a wrong timestamp.
TEST(FuzzRegressionTest, TimesFarFromTheEpochConvertExactly) {
  ASSERT_OK_AND_ASSIGN(
      AlertBatch batch,
      ParsePrometheusAlerts(
          R"([{"labels":{"alertname":"A"},"startsAt":"1012-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z"},)"
          R"({"labels":{"alertname":"B"},"startsAt":"9999-12-31T23:59:59.5Z","endsAt":"9999-12-31T23:59:59.9Z"}])",
          kNow));
  ASSERT_EQ(batch.alerts.size(), 2u);
  const absl::Time old_time = absl::FromCivil(absl::CivilSecond(1012, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  auto e = AlertToEvent(std::move(batch.alerts[0]), IntakeSource::kPrometheus, "x", kNow);
  auto ts = RoundTrip(*e).attributes().at("time").ce_timestamp();
  EXPECT_EQ(ts.seconds(), absl::ToUnixSeconds(old_time));
  EXPECT_EQ(ts.nanos(), 0);
  e = AlertToEvent(std::move(batch.alerts[1]), IntakeSource::kPrometheus, "x", kNow);
  ts = RoundTrip(*e).attributes().at("time").ce_timestamp();
  EXPECT_EQ(ts.seconds(), 253402300799);
  EXPECT_EQ(ts.nanos(), 500000000);

  // Before 1970 with a fraction: nanos stay in [0, 1e9).
  ASSERT_OK_AND_ASSIGN(EventPtr ce, ParseStructuredCloudEvent(
                                        R"({"specversion":"1.0","id":"1","source":"/x","type":"t","time":"1969-12-31T23:59:59.25Z"})",
                                        kNow));
  ts = RoundTrip(*ce).attributes().at("time").ce_timestamp();
  EXPECT_EQ(ts.seconds(), -1);
  EXPECT_EQ(ts.nanos(), 250000000);
}

// Found by prometheus_alerts_fuzzer and alertmanager_webhook_fuzzer (after
// the fast RFC 3339 formatter came in): the same saturation of Unix
// nanoseconds overflowed before 1678 and clamped after 2262, so an alert's
// data carried a wrong startsAt/endsAt.
TEST(FuzzRegressionTest, Rfc3339FormattingIsExactForAnyYear) {
  for (const char* text : {"1012-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "1677-09-21T00:12:43.5Z",
                           "1969-12-31T23:59:59.25Z", "2024-02-29T12:00:00Z",
                           "2262-04-11T23:47:16.854775808Z", "9999-12-31T23:59:59.999999999Z"}) {
    SCOPED_TRACE(text);
    ASSERT_OK_AND_ASSIGN(absl::Time t, ParseRfc3339(text));
    const std::string formatted = FormatRfc3339(t);
    EXPECT_EQ(formatted.substr(0, 10), std::string(text).substr(0, 10));
    ASSERT_OK_AND_ASSIGN(absl::Time back, ParseRfc3339(formatted));
    EXPECT_EQ(back, t) << formatted;
  }
  ASSERT_OK_AND_ASSIGN(
      AlertBatch batch,
      ParsePrometheusAlerts(
          R"([{"labels":{"alertname":"A"},"startsAt":"1012-01-01T00:00:00Z","endsAt":"9999-01-01T00:00:00Z"}])", kNow));
  ASSERT_EQ(batch.alerts.size(), 1u);
  auto e = AlertToEvent(std::move(batch.alerts[0]), IntakeSource::kPrometheus, "x", kNow);
  const std::string data = RoundTrip(*e).text_data();
  EXPECT_THAT(data, HasSubstr("1012-01-01T00:00:00"));
  EXPECT_THAT(data, HasSubstr("9999-01-01T00:00:00"));
}

// Found by cloudevents_binary_fuzzer: percent-decoding made attribute values
// that are not UTF-8; protobuf strings must be, so the plugin could not parse
// the call. Now refused at intake.
TEST(FuzzRegressionTest, BinaryModeAttributesMustBeUtf8) {
  const std::vector<std::pair<std::string, std::string>> base = {
      {"ce-specversion", "1.0"}, {"ce-source", "/x"}, {"ce-type", "t"}};
  auto with = [&](std::string name, std::string value) {
    auto h = base;
    h.emplace_back(std::move(name), std::move(value));
    return h;
  };
  EXPECT_THAT(ParseBinaryCloudEvent(with("ce-id", "%FF"), "application/json", "", kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ce-id: not valid UTF-8")));
  EXPECT_THAT(ParseBinaryCloudEvent(with("ce-id", "caf%C3"), "application/json", "", kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid UTF-8")));
  auto ext = with("ce-id", "1");
  ext.emplace_back("ce-myext", "%C0%AF");  // an overlong encoding of '/'
  EXPECT_THAT(ParseBinaryCloudEvent(ext, "application/json", "", kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ce-myext")));
  EXPECT_THAT(ParseBinaryCloudEvent(with("ce-id", "1"), "text/plain; charset=\xff", "x", kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Content-Type")));
  // Valid UTF-8 still passes, percent-encoded or not.
  ASSERT_OK_AND_ASSIGN(EventPtr ok, ParseBinaryCloudEvent(with("ce-id", "caf%C3%A9"), "application/json", "", kNow));
  EXPECT_EQ(ok->id, "caf\xc3\xa9");
  RoundTrip(*ok);
  // A text body that is not UTF-8 travels as bytes.
  ASSERT_OK_AND_ASSIGN(EventPtr text, ParseBinaryCloudEvent(with("ce-id", "2"), "text/plain", "\xff\xfe", kNow));
  EXPECT_TRUE(text->data_is_binary);
  EXPECT_EQ(RoundTrip(*text).binary_data(), "\xff\xfe");
}

// Found by a 5-minute cloudevents_binary_fuzzer campaign: nlohmann's parser
// ends the text at a NUL byte, so a JSON body "5\0<bytes>" passed and its
// tail, not UTF-8, went to the plugin as text. Bodies (and JWT parts) with a
// NUL, or not UTF-8, are now refused.
TEST(FuzzRegressionTest, JsonWithANulByteIsRefused) {
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"ce-specversion", "1.0"}, {"ce-id", "1"}, {"ce-source", "/x"}, {"ce-type", "t"}};
  const std::string nul_body("5\0\xff\xfe", 4);
  EXPECT_THAT(ParseBinaryCloudEvent(headers, "application/json", nul_body, kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
  EXPECT_THAT(ParseBinaryCloudEvent(headers, "", nul_body, kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
  EXPECT_THAT(ParseBinaryCloudEvent(headers, "application/json", "\"\xff\"", kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
  const std::string structured =
      std::string(R"({"specversion":"1.0","id":"1","source":"/x","type":"t"})") + std::string("\0junk", 5);
  EXPECT_THAT(ParseStructuredCloudEvent(structured, kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL byte")));
  // JSON bodies without a NUL still pass.
  ASSERT_OK_AND_ASSIGN(EventPtr ok, ParseBinaryCloudEvent(headers, "application/json", "5", kNow));
  EXPECT_EQ(RoundTrip(*ok).text_data(), "5");
  // The JWT verifier parses its parts the same way.
  JwtFailure failure = JwtFailure::kNone;
  const std::string token = SignHs256JwtForTesting(std::string("{}\0junk", 7), "k");
  EXPECT_FALSE(VerifyHs256Jwt(token, "k", {.now = kNow}, &failure).ok());
  EXPECT_EQ(failure, JwtFailure::kMalformed);
}

// Found by config_fuzzer: yaml-cpp takes bytes that are not UTF-8; a rule
// name made of them passed check-config and then made the JSON view of the
// rules (GET /api/v1/rules) throw. Now a configuration error with its place.
TEST(FuzzRegressionTest, ConfigurationMustBeUtf8) {
  const std::string bad = "rules:\n  - name: dr\xe4in\n    event_type: t\n    action_plugins: [p]\n";
  EXPECT_THAT(ParseConfig(bad, "rules.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("rules.yaml:2:13: not valid UTF-8")));
  const std::string good =
      "action_plugins: [{name: p, address: \"a:1\"}]\n"
      "rules:\n  - name: dr\xc3\xa4in\n    event_type: t\n    action_plugins: [p]\n";
  ASSERT_OK_AND_ASSIGN(Config config, ParseConfig(good, "rules.yaml"));
  EXPECT_THAT(Ruleset::Build(std::move(config))->ToJson(), HasSubstr("dr\xc3\xa4in"));
}

// Found by ha_state_fuzzer: a flow's or an event's times and counters read
// with nlohmann's get<int64_t>() from a float out of range (1.79664e+29) is
// undefined behaviour (UBSan: outside the range of representable values).
// The journal's rows and the shared state both carry them; now only JSON
// integers that fit are taken, anything else refuses the record.
TEST(FuzzRegressionTest, IntegersInStoredRecordsMustBeIntegers) {
  const std::string flow =
      R"({"id":"f","rule":"r","group_key":"g","state":1,"step":0,"steps":[["p",1,1,""]],)"
      R"("error":"","created_ns":CREATED,"updated_ns":0})";
  auto with = [&](const std::string& created) {
    std::string text = flow;
    text.replace(text.find("CREATED"), 7, created);
    FlowRecord r;
    return FlowStateFromJson(text, &r);
  };
  EXPECT_THAT(with("1796637600000000000"), IsOk());
  for (const char* bad : {"1.79664e+29", "1.5", "\"7\"", "18446744073709551615"}) {
    EXPECT_THAT(with(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
  FlowRecord r;
  EXPECT_THAT(FlowStateFromJson(R"({"id":"f","rule":"r","group_key":"g","state":1e30,"step":0,)"
                                R"("steps":[["p",1,1,""]],"error":"","created_ns":0,"updated_ns":0})",
                                &r),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(EventFromJson(R"({"id":"1","source":"s","type":"t","time_ns":1e300,"labels":[],)"
                            R"("resolved":false,"intake":0,"received_ns":0,"data":""})")
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace hollowtrees::engine
