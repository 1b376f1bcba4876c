// libFuzzer target: the AWS shared files (~/.aws/config and
// ~/.aws/credentials): aws::ParseIni on each, then what the SDK-style
// lookups make of them together: aws::LoadSharedProfile, the profile
// credentials provider and aws::ResolveRegion. The input holds both files
// and the profile name; they are written to a scratch folder of this process
// (the lookups read files by design).
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "lib/aws/credentials.h"
#include "lib/aws/environment.h"
#include "lib/aws/region.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

// Never destroyed, so the exit handler that removes it can still read it.
const std::string& ScratchDir() {
  static const std::string* dir = [] {
    // In memory when it can (/dev/shm): a file system on disk costs most of
    // each run in writes.
    char shm[] = "/dev/shm/ht-fuzz-aws-XXXXXX";
    char tmp[] = "/tmp/ht-fuzz-aws-XXXXXX";
    const char* d = mkdtemp(shm);
    if (d == nullptr) d = mkdtemp(tmp);
    if (d == nullptr) std::abort();
    auto* made = new std::string(d);
    std::atexit([] {
      const std::string& dir = ScratchDir();
      unlink((dir + "/config").c_str());
      unlink((dir + "/credentials").c_str());
      rmdir(dir.c_str());
    });
    return made;
  }();
  return *dir;
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hollowtrees;
  if (size > 64 * 1024) return 0;  // small files
  FuzzedDataProvider in(data, size);
  const std::string profile = in.ConsumeBool() ? "" : in.ConsumeRandomLengthString(32);
  const std::string config = in.ConsumeRandomLengthString(32 * 1024);
  const std::string credentials = in.ConsumeRemainingBytesAsString();

  (void)aws::ParseIni(config, "config");
  (void)aws::ParseIni(credentials, "credentials");

  const std::string config_path = ScratchDir() + "/config";
  const std::string credentials_path = ScratchDir() + "/credentials";
  Write(config_path, config);
  Write(credentials_path, credentials);
  aws::Env env = {{"HOME", "/nonexistent"},
                  {"AWS_CONFIG_FILE", config_path},
                  {"AWS_SHARED_CREDENTIALS_FILE", credentials_path}};
  if (!profile.empty()) env["AWS_PROFILE"] = profile;
  auto shared = aws::LoadSharedProfile(env);
  if (shared.ok()) (void)shared->Get("region");
  (void)aws::ResolveRegion("", env);
  auto provider = aws::NewProfileCredentials(env);
  auto creds = provider->Get();
  if (creds.ok() && (creds->access_key_id.empty() || creds->secret_access_key.empty())) {
    std::fprintf(stderr, "profile credentials accepted without both keys\n");
    std::abort();
  }
  return 0;
}
