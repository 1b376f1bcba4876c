// hollowtrees: the engine daemon, and its configuration check.
//
//   hollowtrees --config FILE [--listen HOST:PORT] [--data-dir DIR]
//   hollowtrees check-config FILE...
//   hollowtrees replay FLOW_ID [--engine URL] [--token-file FILE] [--ca-file FILE]

#include <csignal>
#include <cstdio>
#include <cstring>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "engine/rules/config.h"
#include "engine/engine.h"
#include "lib/common/daemon.h"
#include "lib/common/file.h"
#include "lib/common/flags.h"
#include "lib/common/logging.h"
#include "lib/http/http_client.h"
#include "lib/common/signals.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, config, "", "the configuration file (rules.yaml)");
ABSL_FLAG(std::string, listen, "", "HOST:PORT for the HTTP API (default: the file's listen, else 0.0.0.0:9092)");
ABSL_FLAG(std::string, data_dir, "", "where durable state lives (default: the file's data_dir)");
ABSL_FLAG(std::string, log_level, "", "trace, debug, info, warn, error (default: the file's log.level, else info)");
ABSL_FLAG(std::string, log_format, "", "text or json (default: the file's log.format, else text)");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(30),
          "on SIGTERM, how long running flows may take to finish");

namespace {

int CheckConfig(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: hollowtrees check-config FILE...\n");
    return 2;
  }
  int rc = 0;
  for (int i = 2; i < argc; ++i) {
    auto config = hollowtrees::engine::LoadConfigFile(argv[i]);
    if (!config.ok()) {
      std::printf("%s\n", std::string(config.status().message()).c_str());
      rc = 1;
      continue;
    }
    std::printf("%s: valid: %zu rules, %zu action plugins\n", argv[i], config->rules.size(),
                config->action_plugins.size());
  }
  return rc;
}

// hollowtrees replay FLOW_ID [--engine URL]: runs a failed flow again on a
// running engine (POST /api/v1/flows/ID/replay).
int Replay(int argc, char** argv) {
  std::string engine = "http://127.0.0.1:9092";
  std::string id;
  std::string token_file, ca_file;  // docs/security.md: a protected or HTTPS API
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--engine" || arg == "-engine") && i + 1 < argc) {
      engine = argv[++i];
    } else if (arg.rfind("--engine=", 0) == 0) {
      engine = arg.substr(9);
    } else if (arg == "--token-file" && i + 1 < argc) {
      token_file = argv[++i];
    } else if (arg.rfind("--token-file=", 0) == 0) {
      token_file = arg.substr(13);
    } else if (arg == "--ca-file" && i + 1 < argc) {
      ca_file = argv[++i];
    } else if (arg.rfind("--ca-file=", 0) == 0) {
      ca_file = arg.substr(10);
    } else if (id.empty() && !arg.empty() && arg[0] != '-') {
      id = arg;
    } else {
      id.clear();
      break;
    }
  }
  if (id.empty()) {
    std::fprintf(stderr,
                 "usage: hollowtrees replay FLOW_ID [--engine http(s)://HOST:PORT] "
                 "[--token-file FILE] [--ca-file FILE]\n");
    return 2;
  }
  hollowtrees::http::Headers headers;
  if (!token_file.empty()) {
    auto text = hollowtrees::ReadFile(token_file);
    std::string token = text.ok() ? text->substr(0, text->find('\n')) : "";
    if (token.empty()) {
      std::fprintf(stderr, "hollowtrees replay: --token-file %s: cannot read a token\n",
                   token_file.c_str());
      return 2;
    }
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
    headers.push_back({"Authorization", "Bearer " + token});
  }
  auto client = hollowtrees::http::NewHttpClient({.base_url = engine, .tls = {.ca_file = ca_file}});
  if (!client.ok()) {
    std::fprintf(stderr, "hollowtrees replay: %s\n", std::string(client.status().message()).c_str());
    return 2;
  }
  auto res = (*client)->Send({.method = "POST", .path = "/api/v1/flows/" + id + "/replay",
                              .headers = headers, .content_type = "application/json"});
  if (!res.ok()) {
    std::fprintf(stderr, "hollowtrees replay: %s\n", std::string(res.status().message()).c_str());
    return 1;
  }
  std::printf("%s\n", res->body.c_str());
  return res->status == 202 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "check-config") == 0) return CheckConfig(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "replay") == 0) return Replay(argc, argv);

  hollowtrees::InitDaemon();
  // Before any thread starts, so only the waiter sees these signals.
  hollowtrees::SignalWaiter signals({SIGTERM, SIGINT, SIGHUP});
  hollowtrees::InitFlags("hollowtrees",
      "the Hollowtrees engine: Prometheus alerts in, ordered gRPC plugin calls out.\n"
      "  hollowtrees --config FILE [--listen HOST:PORT] [--data-dir DIR]\n"
      "  hollowtrees check-config FILE...\n"
      "  hollowtrees replay FLOW_ID [--engine http://HOST:PORT]");
  hollowtrees::AcceptDashedFlags(argc, argv);
  absl::ParseCommandLine(argc, argv);
  const std::string config_path = absl::GetFlag(FLAGS_config);
  if (config_path.empty()) {
    std::fprintf(stderr, "hollowtrees: --config FILE is required (see --help)\n");
    return 2;
  }

  // The file's log settings apply unless a flag says otherwise.
  hollowtrees::LogOptions log_options;
  if (auto config = hollowtrees::engine::LoadConfigFile(config_path); config.ok()) {
    log_options = config->log;
  }
  if (!absl::GetFlag(FLAGS_log_level).empty()) log_options.level = absl::GetFlag(FLAGS_log_level);
  if (!absl::GetFlag(FLAGS_log_format).empty()) log_options.format = absl::GetFlag(FLAGS_log_format);
  auto logger = hollowtrees::MakeLogger("hollowtrees", log_options);
  if (!logger.ok()) {
    std::fprintf(stderr, "hollowtrees: %s\n", std::string(logger.status().message()).c_str());
    return 2;
  }

  hollowtrees::engine::EngineOptions options;
  options.config_path = config_path;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  auto engine = hollowtrees::engine::Engine::Start(options, **logger);
  if (!engine.ok()) {
    (*logger)->critical("cannot start:\n{}", engine.status().message());
    return 1;
  }
  (*logger)->info("listening on {}:{}", (*engine)->listen_host(), (*engine)->port());
  while (true) {
    const int sig = signals.Wait();
    if (sig == SIGHUP) {
      (*logger)->info("SIGHUP: reloading {}", config_path);
      (void)(*engine)->Reload();
      continue;
    }
    (*logger)->info("received signal {}, shutting down (grace {})", sig,
                    absl::FormatDuration(absl::GetFlag(FLAGS_shutdown_grace)));
    break;
  }
  (*engine)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  engine->reset();
  (*logger)->info("stopped");
  return 0;
}
