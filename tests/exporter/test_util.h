#pragma once

// Helpers for the exporter's tests: an exposition parser, a stateful fake of
// InstanceMetadata, and a logger that keeps its lines.

#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "exporter/metadata.h"
#include "gmock/gmock.h"
#include "spdlog/logger.h"
#include "spdlog/sinks/base_sink.h"

namespace hollowtrees::exporter::testing {

// A StatusOr that is OK and whose value matches `m`.
MATCHER_P(IsOkAndHolds, m, "") {
  if (!arg.ok()) {
    *result_listener << "status: " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(m, *arg, result_listener);
}

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Parses the text exposition (our writer's subset: no escapes inside label
// values other than \" \\ \n, no timestamps). Comments are skipped.
inline std::vector<Sample> ParseExposition(const std::string& text) {
  std::vector<Sample> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line.front() == '#') continue;
    Sample s;
    const size_t brace = line.find('{');
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) continue;
    if (brace != absl::string_view::npos && brace < space) {
      s.name = std::string(line.substr(0, brace));
      const size_t close = line.rfind('}');
      absl::string_view body = line.substr(brace + 1, close - brace - 1);
      while (!body.empty()) {
        const size_t eq = body.find('=');
        std::string name(body.substr(0, eq));
        body.remove_prefix(eq + 2);  // ="
        std::string value;
        size_t i = 0;
        for (; i < body.size() && body[i] != '"'; ++i) {
          if (body[i] == '\\' && i + 1 < body.size()) {
            ++i;
            value.push_back(body[i] == 'n' ? '\n' : body[i]);
          } else {
            value.push_back(body[i]);
          }
        }
        body.remove_prefix(std::min(body.size(), i + 1));
        absl::ConsumePrefix(&body, ",");
        s.labels[name] = value;
      }
    } else {
      s.name = std::string(line.substr(0, space));
    }
    std::string v(line.substr(space + 1));
    if (v == "+Inf") {
      s.value = 1e308 * 10;
    } else if (!absl::SimpleAtod(v, &s.value)) {
      continue;
    }
    out.push_back(std::move(s));
  }
  return out;
}

// Every sample of `name`.
inline std::vector<Sample> Find(const std::vector<Sample>& samples, const std::string& name) {
  std::vector<Sample> out;
  for (const Sample& s : samples) {
    if (s.name == name) out.push_back(s);
  }
  return out;
}

// The value of the one sample of `name` with exactly `labels`, or nullopt.
inline std::optional<double> Value(const std::vector<Sample>& samples, const std::string& name,
                                   const std::map<std::string, std::string>& labels = {}) {
  for (const Sample& s : samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return std::nullopt;
}

// A stateful fake metadata service behind the interface: documents by path,
// an outage switch, a protocol version.
class FakeMetadata : public InstanceMetadata {
 public:
  void Set(const std::string& path, const std::string& body) {
    absl::MutexLock lock(&mu_);
    docs_[path] = body;
  }
  void Remove(const std::string& path) {
    absl::MutexLock lock(&mu_);
    docs_.erase(path);
  }
  void SetDown(bool down) {
    absl::MutexLock lock(&mu_);
    down_ = down;
  }
  int gets() {
    absl::MutexLock lock(&mu_);
    return gets_;
  }
  absl::StatusOr<std::optional<std::string>> Get(absl::string_view path) override {
    absl::MutexLock lock(&mu_);
    ++gets_;
    if (down_) return absl::UnavailableError("GET fake: connection refused");
    auto it = docs_.find(std::string(path));
    if (it == docs_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  int version() const override { return 2; }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::string> docs_ ABSL_GUARDED_BY(mu_);
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  int gets_ ABSL_GUARDED_BY(mu_) = 0;
};

// A logger whose output tests can read, also while other threads log.
class CapturingLogger {
 public:
  CapturingLogger() : sink_(std::make_shared<Sink>()), logger_("test", sink_) {
    logger_.set_level(spdlog::level::debug);
    logger_.set_pattern("%l %v");
  }
  spdlog::logger& get() { return logger_; }
  std::string text() { return sink_->text(); }
  // Lines at `level` ("error", "warning", "info", ...) containing `needle`.
  int Count(const std::string& level, const std::string& needle) {
    int n = 0;
    for (absl::string_view line : absl::StrSplit(text(), '\n')) {
      if (absl::StartsWith(line, level + " ") && absl::StrContains(line, needle)) ++n;
    }
    return n;
  }

 private:
  class Sink : public spdlog::sinks::base_sink<std::mutex> {
   public:
    std::string text() {
      std::lock_guard<std::mutex> lock(mutex_);
      return text_;
    }

   protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
      spdlog::memory_buf_t formatted;
      formatter_->format(msg, formatted);
      text_.append(formatted.data(), formatted.size());
    }
    void flush_() override {}

   private:
    std::string text_;
  };
  std::shared_ptr<Sink> sink_;
  spdlog::logger logger_;
};

}  // namespace hollowtrees::exporter::testing
