#pragma once

// The engine's SQS sources, assembled from the configuration: one poller per
// queue, sharing one AWS credential chain, and per region one EC2 client
// (with its instance cache) for the events' labels.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/intake/intake.h"
#include "engine/rules/config.h"
#include "engine/sources/sqs_source.h"
#include "lib/aws/credentials.h"
#include "lib/aws/environment.h"
#include "lib/aws/query_client.h"
#include "lib/common/clock.h"
#include "lib/metrics/metrics.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::engine {

class SqsSources {
 public:
  // Builds a client per queue (InvalidArgument naming the source when its
  // URL, region or endpoint cannot be used) and starts polling. Endpoints,
  // credentials and regions as the AWS SDKs read them from `env`
  // (AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL, the
  // credential chain). No sources configured: nothing runs.
  // `metrics` (made once per registry) must outlive this; a highly
  // available engine starts the sources on the leader only, anew at each
  // term.
  static absl::StatusOr<std::unique_ptr<SqsSources>> Start(const SourcesConfig& config,
                                                           const aws::Env& env, Intake& intake,
                                                           SqsSourceMetrics& metrics,
                                                           spdlog::logger& logger, Clock& clock);
  ~SqsSources();  // Stop()
  // Stops every poller (a long poll in progress ends at once). Idempotent.
  void Stop();

  size_t size() const { return sources_.size(); }

 private:
  explicit SqsSources(SqsSourceMetrics& metrics) : metrics_(metrics) {}

  SqsSourceMetrics& metrics_;
  // One region's EC2 client and its instance cache (each refers to the one
  // before it).
  struct Region {
    std::unique_ptr<aws::QueryClient> query;
    std::unique_ptr<aws::Ec2Client> ec2;
    std::unique_ptr<CachedInstanceDirectory> directory;
  };
  // Made for the region, or the one made before.
  absl::StatusOr<CachedInstanceDirectory*> DirectoryFor(const std::string& region,
                                                        const aws::Env& env, Clock& clock,
                                                        spdlog::logger& logger);

  std::unique_ptr<aws::CredentialsProvider> credentials_;
  std::map<std::string, Region> regions_;
  std::vector<std::unique_ptr<SqsSource>> sources_;
};

}  // namespace hollowtrees::engine
