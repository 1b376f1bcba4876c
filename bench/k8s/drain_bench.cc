// ht-k8s-drain-bench: drains a node of N pods (grace 0, no budgets) on the
// fake API server, with the plugin and with `kubectl drain`, each on its own
// identical fake cluster, in the same run. Prints time from the call to all
// pods gone and the API requests each made.
//
//   ht-k8s-drain-bench [--pods 100] [--runs 3] [--kubectl /usr/bin/kubectl]

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/common/logging.h"
#include "plugins/k8s/k8s_plugin.h"
#include "tests/fakes/kube/fake_apiserver.h"
#include "tests/fakes/kube/test_pki.h"

ABSL_FLAG(int, pods, 100, "pods on the drained node");
ABSL_FLAG(int, runs, 3, "runs of each side");
ABSL_FLAG(std::string, kubectl, "/usr/bin/kubectl", "kubectl to compare with (empty: skip)");

extern char** environ;

namespace {

using hollowtrees::testing::FakeApiServer;
using nlohmann::json;
constexpr char kToken[] = "bench-token";

json Cluster(int pods) {
  json s;
  auto node = [](const std::string& name, const std::string& id) {
    return json{{"metadata", {{"name", name}}},
                {"spec", {{"providerID", "aws:///us-east-1a/" + id}}},
                {"status", {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
  };
  s["nodes"] = {node("node-1", "i-0001"), node("node-2", "i-0002")};
  s["replicasets"] = {{{"metadata", {{"name", "web-rs"}, {"namespace", "default"}}},
                       {"spec", {{"replicas", pods}}}}};
  s["pods"] = json::array();
  for (int i = 0; i < pods; ++i) {
    s["pods"].push_back(
        {{"metadata",
          {{"name", absl::StrCat("web-", i)},
           {"namespace", "default"},
           {"labels", {{"app", "web"}}},
           {"ownerReferences",
            {{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", "web-rs"},
              {"uid", "rs-uid"}, {"controller", true}}}}}},
         {"spec", {{"nodeName", "node-1"}, {"terminationGracePeriodSeconds", 0},
                   {"containers", {{{"name", "c"}, {"image", "pause"}}}}}},
         {"status", {{"phase", "Running"}, {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}});
  }
  return s;
}

struct Side {
  std::unique_ptr<FakeApiServer> server;
  std::string kubeconfig;
};

Side StartSide(const hollowtrees::testing::TestPki& pki, const std::string& dir,
               const std::string& name, int pods) {
  Side side;
  auto server = FakeApiServer::Start({.tls_cert_file = pki.server_cert_file,
                                      .tls_key_file = pki.server_key_file,
                                      .tokens = {kToken},
                                      .reschedule = false});
  if (!server.ok()) {
    fprintf(stderr, "fake: %s\n", std::string(server.status().message()).c_str());
    exit(1);
  }
  side.server = std::move(*server);
  (void)side.server->LoadState(Cluster(pods));
  side.kubeconfig = absl::StrCat(dir, "/", name, ".kubeconfig");
  std::ofstream(side.kubeconfig) << "apiVersion: v1\nkind: Config\nclusters:\n- name: f\n  cluster:\n"
                                 << "    server: " << side.server->url() << "\n"
                                 << "    certificate-authority: " << pki.ca_cert_file << "\n"
                                 << "users:\n- name: u\n  user:\n    token: " << kToken << "\n"
                                 << "contexts:\n- name: f\n  context: {cluster: f, user: u}\n"
                                 << "current-context: f\n";
  return side;
}

struct Figure {
  double seconds = 0;
  int64_t requests = 0;
  bool ok = false;
};

Figure RunPlugin(Side& side, absl::Duration cordon_hold) {
  auto logger = *hollowtrees::MakeLogger("bench", {.level = getenv("BENCH_LOG") ? getenv("BENCH_LOG") : "error"});
  hollowtrees::k8s::KubeconfigClusterApis apis({.kubeconfig = side.kubeconfig});
  hollowtrees::k8s::K8sPluginOptions options;
  options.defaults.cordon_hold = cordon_hold;
  hollowtrees::k8s::K8sPlugin plugin(options, apis, hollowtrees::RealClock(), *logger);
  hollowtrees::plugin::Request req;
  req.labels = {{"instance_id", "i-0001"}};
  hollowtrees::plugin::Context ctx;
  side.server->ResetRequestCounts();
  const absl::Time t0 = absl::Now();
  hollowtrees::plugin::Result r = plugin.Handle(req, ctx);
  Figure f;
  f.seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  f.requests = side.server->RequestCount();
  f.ok = r.outcome == hollowtrees::plugin::v1::HandleResponse::OUTCOME_DONE &&
         side.server->PodsOnNode("node-1").empty();
  if (!f.ok) fprintf(stderr, "plugin: %s\n", r.message.c_str());
  return f;
}

Figure RunKubectl(Side& side, const std::string& kubectl, const std::string& cache) {
  std::vector<std::string> args = {kubectl, "--kubeconfig", side.kubeconfig, "--cache-dir", cache,
                                   "drain", "node-1", "--ignore-daemonsets",
                                   "--delete-emptydir-data", "--force", "--timeout=90s"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  side.server->ResetRequestCounts();
  const absl::Time t0 = absl::Now();
  pid_t pid;
  Figure f;
  if (posix_spawn(&pid, kubectl.c_str(), &fa, nullptr, argv.data(), environ) != 0) return f;
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  waitpid(pid, &status, 0);
  f.seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  f.requests = side.server->RequestCount();
  f.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && side.server->PodsOnNode("node-1").empty();
  return f;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int pods = absl::GetFlag(FLAGS_pods);
  const int runs = absl::GetFlag(FLAGS_runs);
  const std::string kubectl = absl::GetFlag(FLAGS_kubectl);
  char tmpl[] = "/tmp/ht-k8s-bench-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  auto pki = hollowtrees::testing::MakeTestPki(dir);
  if (!pki.ok()) return 1;
  const bool with_kubectl = !kubectl.empty() && access(kubectl.c_str(), X_OK) == 0;

  printf("drain of a node with %d pods (grace 0, no budgets) on the fake API server (HTTPS), %d runs\n",
         pods, runs);
  printf("%-34s %12s %12s %10s\n", "drainer", "seconds", "requests", "all gone");
  struct Row {
    std::string name;
    std::function<Figure(Side&)> run;
  };
  std::vector<Row> rows = {
      {"ht-k8s-action-plugin (hold 0)", [](Side& s) { return RunPlugin(s, absl::ZeroDuration()); }},
      {"ht-k8s-action-plugin (hold 1s)", [](Side& s) { return RunPlugin(s, absl::Seconds(1)); }},
  };
  if (with_kubectl) {
    const std::string cache = dir + "/kubectl-cache";
    rows.push_back({"kubectl drain", [kubectl, cache](Side& s) { return RunKubectl(s, kubectl, cache); }});
  }
  for (const Row& row : rows) {
    std::vector<double> secs;
    std::vector<double> reqs;
    bool all_ok = true;
    for (int i = 0; i < runs; ++i) {
      Side side = StartSide(*pki, dir, absl::StrCat("c", i), pods);
      Figure f = row.run(side);
      secs.push_back(f.seconds);
      reqs.push_back(static_cast<double>(f.requests));
      all_ok = all_ok && f.ok;
      side.server->Stop();
    }
    printf("%-34s %12.3f %12.0f %10s\n", row.name.c_str(), Median(secs), Median(reqs),
           all_ok ? "yes" : "NO");
  }
  if (!with_kubectl) printf("(kubectl not found at %s: no comparison)\n", kubectl.c_str());
  printf("seconds and requests are medians; requests counted by the fake (kubectl's include its "
         "discovery)\n");
  return 0;
}
