// libFuzzer target: the JWT verifier, two ways. Mode 0 verifies the input
// as a token (shape, header, signature). Mode 1 takes the input as claims
// JSON, signs it with the right key and verifies it, so the fuzzer reaches
// the claim checks behind the signature.
#include "engine/http/auth.h"
#include "engine/http/jwt.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hollowtrees;
  if (size == 0) return 0;
  static constexpr absl::string_view kKey = "fuzz-secret";
  const absl::string_view input = fuzz::AsView(data + 1, size - 1);
  engine::JwtVerifyOptions options{.now = fuzz::FixedNow(), .issuer = "", .audience = ""};
  if (data[0] % 2 == 0) {
    (void)engine::VerifyHs256Jwt(input, kKey, options);
  } else {
    const std::string token = engine::SignHs256JwtForTesting(input, kKey);
    options.audience = "hollowtrees";
    auto claims = engine::VerifyHs256Jwt(token, kKey, options);
    if (claims.ok()) {
      engine::Principal p;
      p.cluster_scoped = true;
      p.org_id = "1";
      p.cluster_id = "2";
      (void)engine::Authenticator::Authorize(p, {{"cluster_id", claims->subject}});
    }
  }
  return 0;
}
