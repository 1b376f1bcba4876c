#include <grpcpp/grpcpp.h>


#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/common/file.h"
#include "engine/dispatch/plugin_client.h"
#include "hollowtrees/plugin/v1/plugin.grpc.pb.h"
#include "lib/common/status_macros.h"

namespace hollowtrees::engine {
namespace {

namespace pb = hollowtrees::plugin::v1;

// A TLS file of a plugin entry. An unreadable file is an error, never an
// empty string: an empty ca_file would make gRPC trust the system roots.
absl::StatusOr<std::string> ReadTlsFile(const std::string& path, const char* key) {
  auto text = ReadFile(path);
  if (!text.ok() || text->find("-----BEGIN") == std::string::npos) {
    return absl::FailedPreconditionError(
        absl::StrCat("tls.", key, " ", path, ": cannot read a PEM file",
                     text.ok() ? "" : absl::StrCat(" (", text.status().message(), ")")));
  }
  return text;
}

// gRPC reports a TLS peer that drops the connection after the handshake (a
// plugin refusing our client certificate, under TLS 1.3) as "Socket
// closed": say what that usually means.
std::string ExplainTlsFailure(bool tls, std::string message) {
  if (tls && message.find("Socket closed") != std::string::npos) {
    absl::StrAppend(&message, " (TLS: the plugin closed the connection after the handshake; with "
                              "mutual TLS it refuses a missing client certificate or one its CA "
                              "did not sign)");
  }
  return message;
}

class GrpcPluginClient : public PluginClient {
 public:
  // Cancels calls still in flight and waits for their callbacks, so that no
  // callback outlives the client.
  ~GrpcPluginClient() override {
    absl::MutexLock lock(&mu_);
    for (grpc::ClientContext* ctx : in_flight_) ctx->TryCancel();
    mu_.Await(absl::Condition(
        +[](absl::flat_hash_set<grpc::ClientContext*>* s) { return s->empty(); }, &in_flight_));
  }

  void Call(const PluginConfig& plugin, const pb::HandleRequest& request, absl::Duration timeout,
            std::function<void(PluginReply)> done) override {
    auto stub_or = StubFor(plugin);
    if (!stub_or.ok()) {
      done(PluginReply{.transport = stub_or.status()});
      return;
    }
    pb::ActionPlugin::Stub* stub = *stub_or;
    struct CallState {
      grpc::ClientContext context;
      pb::HandleRequest request;
      pb::HandleResponse response;
      std::function<void(PluginReply)> done;
    };
    auto* state = new CallState;
    state->request = request;
    state->done = std::move(done);
    state->context.set_deadline(std::chrono::system_clock::now() +
                                absl::ToChronoMilliseconds(timeout));
    {
      absl::MutexLock lock(&mu_);
      in_flight_.insert(&state->context);
    }
    stub->async()->Handle(&state->context, &state->request, &state->response,
                          [this, state, tls = plugin.tls.has_value()](grpc::Status status) {
                            std::unique_ptr<CallState> owned(state);
                            PluginReply reply;
                            if (status.ok()) {
                              reply.response = std::move(owned->response);
                            } else {
                              reply.transport = absl::Status(
                                  static_cast<absl::StatusCode>(status.error_code()),
                                  ExplainTlsFailure(tls, status.error_message()));
                            }
                            owned->done(std::move(reply));
                            absl::MutexLock lock(&mu_);
                            in_flight_.erase(&owned->context);
                          });
  }

 private:
  absl::StatusOr<pb::ActionPlugin::Stub*> StubFor(const PluginConfig& plugin) {
    std::string key = plugin.address;
    if (plugin.tls) {
      absl::StrAppend(&key, "|tls|", plugin.tls->ca_file, "|", plugin.tls->cert_file, "|",
                      plugin.tls->key_file, "|", plugin.tls->server_name);
    }
    absl::MutexLock lock(&mu_);
    auto it = stubs_.find(key);
    if (it != stubs_.end()) return it->second.get();
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);  // the dispatcher retries, with backoff
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (plugin.tls) {
      grpc::SslCredentialsOptions ssl;
      if (!plugin.tls->ca_file.empty()) {
        HT_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadTlsFile(plugin.tls->ca_file, "ca_file"));
      }
      if (!plugin.tls->cert_file.empty()) {
        HT_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadTlsFile(plugin.tls->cert_file, "cert_file"));
        HT_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadTlsFile(plugin.tls->key_file, "key_file"));
      }
      if (!plugin.tls->server_name.empty()) {
        args.SetSslTargetNameOverride(plugin.tls->server_name);
      }
      creds = grpc::SslCredentials(ssl);
    } else {
      creds = grpc::InsecureChannelCredentials();
    }
    auto channel = grpc::CreateCustomChannel(plugin.address, creds, args);
    auto stub = pb::ActionPlugin::NewStub(channel);
    pb::ActionPlugin::Stub* raw = stub.get();
    stubs_.emplace(std::move(key), std::move(stub));
    return raw;
  }

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<pb::ActionPlugin::Stub>> stubs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<grpc::ClientContext*> in_flight_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<PluginClient> NewGrpcPluginClient() { return std::make_unique<GrpcPluginClient>(); }

}  // namespace hollowtrees::engine
