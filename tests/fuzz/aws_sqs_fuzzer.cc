// libFuzzer target: what SQS answers over the JSON 1.0 protocol, through the
// client that decodes it (aws::SqsClient): ReceiveMessage (messages,
// attributes, MD5 of the body), DeleteMessageBatch (per-entry results),
// ChangeMessageVisibility, and the error forms (aws::ParseSqsError on its
// own too). Every request is answered with a status and body from the input
// (tests/fuzz/fuzz_http.h); one attempt per call, no signing.
#include <fuzzer/FuzzedDataProvider.h>

#include "lib/aws/sqs.h"
#include "lib/common/clock.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hollowtrees;
  if (size > 256 * 1024) return 0;
  FuzzedDataProvider in(data, size);
  const int mode = in.ConsumeIntegralInRange(0, 3);
  if (mode == 3) {
    http::HttpResponse r;
    r.status = in.ConsumeIntegralInRange(400, 599);
    if (in.ConsumeBool()) {
      r.headers.emplace_back("x-amzn-query-error", in.ConsumeRandomLengthString(128));
    }
    r.body = in.ConsumeRemainingBytesAsString();
    aws::AwsError e = aws::ParseSqsError(r);
    absl::Status s = aws::MakeSqsStatus(e);
    if (s.ok()) {
      std::fprintf(stderr, "an SQS error answer made an OK status\n");
      std::abort();
    }
    return 0;
  }
  aws::SqsClientOptions options{.queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/q"};
  options.retry.max_attempts = 1;  // no backoff sleeps
  auto client = aws::SqsClient::CreateWithHttp(
      options, aws::Env{},
      std::make_unique<fuzz::ScriptedHttp>(in, std::vector<int>{200, 200, 200, 400, 403, 500}),
      /*credentials=*/nullptr, RealClock(), fuzz::SilentLogger().get());
  if (!client.ok()) std::abort();
  switch (mode) {
    case 0: {
      auto messages = (*client)->Receive({.max_messages = 10, .wait = absl::ZeroDuration()});
      if (messages.ok()) {
        if (messages->size() > 10) {
          std::fprintf(stderr, "more messages than asked for\n");
          std::abort();
        }
        for (const aws::SqsMessage& m : *messages) {
          if (m.receipt_handle.empty()) {
            std::fprintf(stderr, "a message without a receipt handle\n");
            std::abort();
          }
        }
      }
      break;
    }
    case 1: {
      const std::vector<std::string> handles = {"h1", "h2", "h3"};
      auto results = (*client)->DeleteBatch(handles);
      if (results.ok() && results->size() != handles.size()) {
        std::fprintf(stderr, "DeleteBatch answered %zu results for %zu handles\n",
                     results->size(), handles.size());
        std::abort();
      }
      break;
    }
    case 2: (void)(*client)->ChangeVisibility("h1", absl::Seconds(30)); break;
  }
  return 0;
}
