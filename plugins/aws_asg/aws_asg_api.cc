#include "plugins/aws_asg/aws_asg_api.h"

#include "lib/aws/credentials.h"
#include "lib/aws/endpoints.h"
#include "lib/common/status_macros.h"

namespace hollowtrees::aws_asg {
namespace {

class AwsAsgApi : public AsgApi {
 public:
  AwsAsgApi(std::unique_ptr<aws::CredentialsProvider> credentials,
            std::unique_ptr<aws::QueryClient> autoscaling, std::unique_ptr<aws::QueryClient> ec2)
      : credentials_(std::move(credentials)), autoscaling_client_(std::move(autoscaling)),
        ec2_client_(std::move(ec2)), asg_(*autoscaling_client_), ec2_(*ec2_client_) {}

  absl::StatusOr<std::optional<aws::AsgInstance>> FindInstance(const std::string& id,
                                                               absl::Time deadline) override {
    return asg_.DescribeAutoScalingInstance(id, deadline);
  }
  absl::StatusOr<std::optional<aws::AutoScalingGroup>> GetGroup(const std::string& name,
                                                                absl::Time deadline) override {
    return asg_.DescribeAutoScalingGroup(name, deadline);
  }
  absl::Status Detach(const std::string& group, const std::string& id, bool decrement,
                      absl::Time deadline) override {
    return asg_.DetachInstances(group, {id}, decrement, deadline).status();
  }
  absl::Status UpdateGroup(const std::string& group, std::optional<int> min_size,
                           std::optional<int> max_size, std::optional<int> desired,
                           absl::Time deadline) override {
    return asg_.UpdateAutoScalingGroup(group, min_size, max_size, desired, deadline);
  }
  absl::StatusOr<std::optional<aws::Ec2Instance>> DescribeInstance(const std::string& id,
                                                                   absl::Time deadline) override {
    return ec2_.DescribeInstance(id, deadline);
  }
  absl::Status CompleteLifecycleAction(const std::string& group, const std::string& hook,
                                       const std::string& token, const std::string& instance_id,
                                       const std::string& result, absl::Time deadline) override {
    return asg_.CompleteLifecycleAction(group, hook, token, instance_id, result, deadline);
  }
  absl::Status RecordLifecycleActionHeartbeat(const std::string& group, const std::string& hook,
                                              const std::string& token,
                                              const std::string& instance_id,
                                              absl::Time deadline) override {
    return asg_.RecordLifecycleActionHeartbeat(group, hook, token, instance_id, deadline);
  }
  absl::StatusOr<std::vector<aws::LifecycleHook>> DescribeLifecycleHooks(
      const std::string& group, absl::Time deadline) override {
    return asg_.DescribeLifecycleHooks(group, deadline);
  }
  absl::StatusOr<std::string> Terminate(const std::string& id, absl::Time deadline) override {
    HT_ASSIGN_OR_RETURN(auto changes, ec2_.TerminateInstances({id}, deadline));
    for (const auto& c : changes) {
      if (c.instance_id == id) return c.current_state;
    }
    return absl::InternalError("TerminateInstances answered without the instance");
  }

 private:
  std::unique_ptr<aws::CredentialsProvider> credentials_;
  std::unique_ptr<aws::QueryClient> autoscaling_client_;
  std::unique_ptr<aws::QueryClient> ec2_client_;
  aws::AutoScalingClient asg_;
  aws::Ec2Client ec2_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AsgApi>> NewAwsAsgApi(const AwsAsgApiOptions& options,
                                                     spdlog::logger& logger) {
  Clock& clock = options.clock != nullptr ? *options.clock : RealClock();
  auto credentials = aws::NewDefaultCredentialsChain(
      {.env = options.env, .region = options.region}, clock, &logger);
  aws::QueryClientOptions asg_options{
      .endpoint = aws::ResolveEndpoint("AUTO_SCALING", "autoscaling", options.region, options.env),
      .region = options.region,
      .service = "autoscaling",
      .version = aws::kAutoScalingVersion,
      .timeout = options.request_timeout,
      .retry = options.retry,
      .ca_file = aws::EnvGet(options.env, "AWS_CA_BUNDLE")};
  aws::QueryClientOptions ec2_options = asg_options;
  ec2_options.endpoint = aws::ResolveEndpoint("EC2", "ec2", options.region, options.env);
  ec2_options.service = "ec2";
  ec2_options.version = aws::kEc2Version;
  HT_ASSIGN_OR_RETURN(auto asg, aws::QueryClient::Create(asg_options, credentials.get(), clock, &logger));
  HT_ASSIGN_OR_RETURN(auto ec2, aws::QueryClient::Create(ec2_options, credentials.get(), clock, &logger));
  return std::make_unique<AwsAsgApi>(std::move(credentials), std::move(asg), std::move(ec2));
}

}  // namespace hollowtrees::aws_asg
