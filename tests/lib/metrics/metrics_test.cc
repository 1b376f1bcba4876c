#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/metrics/metrics.h"

namespace hollowtrees::metrics {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, ExposesCountersGaugesAndHistograms) {
  Registry r;
  auto& events = r.AddCounter("ht_events_total", "Events received.", {"source"});
  events.WithLabels({"prometheus"}).Inc();
  events.WithLabels({"prometheus"}).Inc(2);
  events.WithLabels({"cloudevents"}).Inc();
  r.AddGauge("ht_up", "Up.").Get().Set(1);
  auto& h = r.AddHistogram("ht_latency_seconds", "Latency.", {"plugin"}, {0.1, 1});
  h.WithLabels({"p"}).Observe(0.05);
  h.WithLabels({"p"}).Observe(0.5);
  h.WithLabels({"p"}).Observe(5);
  r.AddGaugeCallback("ht_queue_depth", "Depth.", [] { return 7.0; });

  const std::string text = r.Expose();
  EXPECT_THAT(text, HasSubstr("# HELP ht_events_total Events received.\n# TYPE ht_events_total counter\n"));
  EXPECT_THAT(text, HasSubstr("ht_events_total{source=\"prometheus\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("ht_events_total{source=\"cloudevents\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("ht_up 1\n"));
  EXPECT_THAT(text, HasSubstr("ht_latency_seconds_bucket{plugin=\"p\",le=\"0.1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("ht_latency_seconds_bucket{plugin=\"p\",le=\"1\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("ht_latency_seconds_bucket{plugin=\"p\",le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("ht_latency_seconds_sum{plugin=\"p\"} 5.55\n"));
  EXPECT_THAT(text, HasSubstr("ht_latency_seconds_count{plugin=\"p\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("ht_queue_depth 7\n"));
}

TEST(MetricsTest, EscapesLabelValues) {
  Registry r;
  r.AddCounter("x_total", "Help with \\ and\nnewline.", {"l"}).WithLabels({"a\"b\\c\nd"}).Inc();
  const std::string text = r.Expose();
  EXPECT_THAT(text, HasSubstr("x_total{l=\"a\\\"b\\\\c\\nd\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("# HELP x_total Help with \\\\ and\\nnewline.\n"));
}

TEST(MetricsTest, RemoveDropsAChild) {
  Registry r;
  auto& g = r.AddGauge("g", "G.", {"id"});
  g.WithLabels({"a"}).Set(1);
  g.WithLabels({"b"}).Set(2);
  g.Remove({"a"});
  const std::string text = r.Expose();
  EXPECT_THAT(text, ::testing::Not(HasSubstr("id=\"a\"")));
  EXPECT_THAT(text, HasSubstr("g{id=\"b\"} 2\n"));
}

}  // namespace
}  // namespace hollowtrees::metrics
