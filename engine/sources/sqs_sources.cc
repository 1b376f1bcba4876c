#include "engine/sources/sqs_sources.h"

#include "absl/strings/str_cat.h"
#include "lib/aws/ec2.h"
#include "lib/aws/endpoints.h"
#include "lib/aws/sqs.h"
#include "lib/common/logging.h"
#include "lib/common/status_macros.h"
#include "spdlog/logger.h"

namespace hollowtrees::engine {

absl::StatusOr<std::unique_ptr<SqsSources>> SqsSources::Start(const SourcesConfig& config,
                                                              const aws::Env& env,
                                                              Intake& intake,
                                                              SqsSourceMetrics& metrics,
                                                              spdlog::logger& logger,
                                                              Clock& clock) {
  std::unique_ptr<SqsSources> s(new SqsSources(metrics));
  if (config.sqs.empty()) return s;
  // One credential chain for every queue; its web identity exchange (STS)
  // needs a region: the first queue's.
  const SqsSourceConfig& first = config.sqs.front();
  s->credentials_ = aws::NewDefaultCredentialsChain(
      {.env = env,
       .region = !first.region.empty() ? first.region : aws::SqsRegionFromQueueUrl(first.queue_url)},
      clock, &logger);
  for (const SqsSourceConfig& q : config.sqs) {
    auto made = aws::SqsClient::Create({.queue_url = q.queue_url, .region = q.region}, env,
                                       s->credentials_.get(), clock, &logger);
    if (!made.ok()) {
      return absl::Status(made.status().code(),
                          absl::StrCat("sources.sqs ", q.name, ": ", made.status().message()));
    }
    std::unique_ptr<aws::SqsClient> client = std::move(*made);
    const std::string region = client->region();
    HT_ASSIGN_OR_RETURN(CachedInstanceDirectory * directory,
                        s->DirectoryFor(region, env, clock, logger));
    SqsSourceOptions options;
    options.config = q;
    options.region = region;
    s->sources_.push_back(std::make_unique<SqsSource>(options, NewSqsQueue(std::move(client)),
                                                      directory, intake, s->metrics_, logger,
                                                      clock));
  }
  for (auto& source : s->sources_) source->Start();
  return s;
}

absl::StatusOr<CachedInstanceDirectory*> SqsSources::DirectoryFor(const std::string& region,
                                                                  const aws::Env& env,
                                                                  Clock& clock,
                                                                  spdlog::logger& logger) {
  Region& r = regions_[region];
  if (r.directory) return r.directory.get();
  HT_ASSIGN_OR_RETURN(r.query, aws::QueryClient::Create(
                                   {.endpoint = aws::ResolveEndpoint("EC2", "ec2", region, env),
                                    .region = region,
                                    .service = "ec2",
                                    .version = aws::kEc2Version,
                                    .ca_file = aws::EnvGet(env, "AWS_CA_BUNDLE")},
                                   credentials_.get(), clock, &logger));
  r.ec2 = std::make_unique<aws::Ec2Client>(*r.query);
  r.directory = std::make_unique<CachedInstanceDirectory>(
      r.ec2.get(), CachedInstanceDirectory::Options{}, clock);
  return r.directory.get();
}

SqsSources::~SqsSources() { Stop(); }

void SqsSources::Stop() {
  for (auto& source : sources_) source->Stop();
}

}  // namespace hollowtrees::engine
