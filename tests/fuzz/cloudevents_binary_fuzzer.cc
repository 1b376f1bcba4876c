// libFuzzer target: CloudEvents in binary mode. The input is a small HTTP
// message: "Name: value" header lines, an empty line, then the body; the
// Content-Type header (if any) is passed as the content type.
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "engine/intake/cloudevents.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hollowtrees;
  const absl::string_view input = fuzz::AsView(data, size);
  const size_t split = input.find("\n\n");
  const absl::string_view head = split == absl::string_view::npos ? input : input.substr(0, split);
  const absl::string_view body =
      split == absl::string_view::npos ? absl::string_view() : input.substr(split + 2);
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type;
  for (absl::string_view line : absl::StrSplit(head, '\n')) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    std::string name(line.substr(0, colon));
    std::string value(absl::StripLeadingAsciiWhitespace(line.substr(colon + 1)));
    if (absl::EqualsIgnoreCase(name, "content-type")) content_type = value;
    headers.emplace_back(std::move(name), std::move(value));
  }
  auto e = engine::ParseBinaryCloudEvent(headers, content_type, body, fuzz::FixedNow());
  if (e.ok()) fuzz::Touch(**e);
  return 0;
}
