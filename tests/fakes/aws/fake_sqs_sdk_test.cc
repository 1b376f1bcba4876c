// Proves the fake SQS speaks AWS JSON 1.0 the way current SDKs expect: the
// AWS SDK for JavaScript v3 (@aws-sdk/client-sqs, pinned in tests/tools)
// runs sqs_sdk_v3.mjs against an in-process fake; the script checks every
// answer (and the SDK its MD5s), this test checks what the fake saw.

#include <filesystem>

#include "gtest/gtest.h"
#include "tests/fakes/aws/fake_aws.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace hollowtrees::testing {
namespace {

using ::testing::HasSubstr;

TEST(SqsSdkV3Test, TheJavaScriptSdkDrivesTheFakeOverJson10) {
  const std::string tools = SourcePath("tests/tools");
  ASSERT_TRUE(std::filesystem::exists(tools + "/node_modules/@aws-sdk/client-sqs/package.json"))
      << tools << "/node_modules/@aws-sdk/client-sqs is missing: run scripts/install-test-tools.sh";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<FakeAws> fake, FakeAws::Start());
  fake->EnableControlApi();
  const std::string home = MakeTempDir("sqs-sdk-home");
  // A clean environment: the SDK finds only these credentials, no config
  // files, no instance metadata.
  ASSERT_OK_AND_ASSIGN(
      auto proc,
      Subprocess::Start(
          {"/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "HOME=" + home, "LANG=C.UTF-8",
           "AWS_ACCESS_KEY_ID=AKIDFAKEEXAMPLE",
           "AWS_SECRET_ACCESS_KEY=fakeSecretKeyForTestsOnly/EXAMPLEKEY",
           "AWS_CONFIG_FILE=" + home + "/config",
           "AWS_SHARED_CREDENTIALS_FILE=" + home + "/credentials", "AWS_EC2_METADATA_DISABLED=true",
           "/usr/bin/node", SourcePath("tests/fakes/aws/sqs_sdk_v3.mjs"), tools, fake->endpoint()},
          {}, home));
  absl::StatusOr<int> code = proc->Wait(absl::Seconds(120));
  ASSERT_THAT(code, IsOk()) << proc->Output();
  EXPECT_EQ(*code, 0) << proc->Output();
  EXPECT_THAT(proc->Output(), HasSubstr("all checks passed"));

  // Every SQS call came over JSON 1.0, signed with the credentials above.
  int calls = 0;
  for (const FakeCall& c : fake->Calls()) {
    EXPECT_EQ(c.service, "sqs");
    EXPECT_EQ(c.protocol, "json") << c.action;
    EXPECT_EQ(c.access_key_id, "AKIDFAKEEXAMPLE");
    ++calls;
  }
  EXPECT_GT(calls, 30);
  EXPECT_EQ(fake->CountCalls("GetQueueAttributes", /*successful_only=*/false) -
                fake->CountCalls("GetQueueAttributes"),
            3);  // two injected throttles and the unknown attribute
  // The message moved by the redrive policy is in the dead-letter queue.
  ASSERT_OK_AND_ASSIGN(FakeSqsCounts dlq, fake->SqsCounts("sdk-dlq"));
  EXPECT_EQ(dlq.visible + dlq.in_flight, 1);
  EXPECT_FALSE(fake->SqsCounts("sdk-main").ok());  // deleted
}

}  // namespace
}  // namespace hollowtrees::testing
